// libFuzzer target: the checkpoint (model file) parser. The input is taken as
// a checkpoint without its CRC-32 trailer, and the matching trailer is
// appended, so the fuzzer explores the header and tensor tables instead of
// stopping at the checksum. Every input must parse or throw cae::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cae/io/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<unsigned char> bytes(data, data + size);
  const std::uint32_t crc = cae::io::crc32(bytes.data(), bytes.size());
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(crc >> (8 * i)));
  try {
    const auto c = cae::io::detail::parse_checkpoint_bytes(std::move(bytes), "fuzz.ckpt");
    for (const auto* table : {&c.model, &c.optimizer})
      for (const auto& stored : *table) {
        cae::Tensor<double> t(stored.shape);
        stored.copy_to(t);  // reads exactly the bytes the table claims
      }
  } catch (const cae::Error&) {
  }
  return 0;
}
