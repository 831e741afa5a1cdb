// libFuzzer target: the .cae reader and the rANS decoder.
//
// The first input byte picks the mode. Odd: the rest is a raw rANS stream,
// its first two bytes the symbol count (at most 4096), decoded against fixed
// tables (fuzz/fuzz_codec_tables.hpp). Even: the rest is a .cae file without
// its last 4 bytes, and the target appends the correct CRC-32 so that the
// fuzzer explores the header fields and streams rather than stopping at the
// checksum; each latent's stream is then decoded. Every input must either
// throw cae::Error or decode into symbols that encode and decode back to
// themselves.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cae/codec/container.hpp"
#include "cae/codec/rans.hpp"
#include "cae/io/crc32.hpp"
#include "fuzz_codec_tables.hpp"

namespace {

void decode_and_check(const std::uint8_t* data, std::size_t size,
                      const std::vector<std::int32_t>& indexes,
                      const std::vector<cae::codec::CdfTable>& tables) {
  const auto symbols = cae::codec::decode_with_indexes(data, size, indexes, tables, "fuzz stream");
  if (symbols.size() != indexes.size()) __builtin_trap();
  const auto again = cae::codec::encode_with_indexes(symbols, indexes, tables);
  if (cae::codec::decode_with_indexes(again, indexes, tables) != symbols) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<cae::codec::CdfTable> tables = fuzz_codec::tables();
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  ++data;
  --size;
  try {
    if (mode & 1) {
      if (size < 2) return 0;
      const std::size_t count = (data[0] | static_cast<std::size_t>(data[1]) << 8) % 4097;
      std::vector<std::int32_t> indexes(count);
      for (std::size_t i = 0; i < count; ++i)
        indexes[i] = static_cast<std::int32_t>((i * 7 + mode / 2) % tables.size());
      decode_and_check(data + 2, size - 2, indexes, tables);
    } else {
      std::vector<std::uint8_t> bytes(data, data + size);
      const std::uint32_t crc = cae::io::crc32(bytes.data(), bytes.size());
      for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
      const cae::codec::CaeFile f = cae::codec::parse_cae(bytes, "fuzz.cae");
      if (cae::codec::write_cae(f) != bytes) __builtin_trap();  // parsing loses nothing
      for (std::size_t k = 0; k < f.streams.size() && k < f.latent_shapes.size(); ++k) {
        // Large latents are legal but slow to decode; the coder's bounds do
        // not depend on the count.
        if (f.latent_shapes[k].numel() > (1 << 16)) continue;
        const auto& s = f.streams[k];
        decode_and_check(s.data(), s.size(), fuzz_codec::indexes_for(f.latent_shapes[k], tables.size()),
                         tables);
      }
    }
  } catch (const cae::Error&) {
  }
  return 0;
}
