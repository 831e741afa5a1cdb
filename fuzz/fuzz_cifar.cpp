// libFuzzer target: a CIFAR-10 binary batch and a batches.meta.txt. Every input
// must either parse into consistent data or throw cae::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cae/data/cifar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cae::data;
  try {
    const Dataset d = parse_cifar(data, size, "fuzz.bin");
    if (d.images.rank() != 4 || static_cast<cae::index_t>(d.labels.size()) != d.size() ||
        d.size() * kCifarRecordBytes != static_cast<cae::index_t>(size))
      __builtin_trap();
    for (int l : d.labels)
      if (l < 0 || l >= 10) __builtin_trap();
    for (float v : d.images)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  } catch (const cae::Error&) {
  }
  try {
    const std::vector<std::string> names =
        parse_cifar_meta(std::string(reinterpret_cast<const char*>(data), size), "fuzz.meta");
    if (names.empty()) __builtin_trap();
    for (const std::string& n : names)
      if (n.empty()) __builtin_trap();
  } catch (const cae::Error&) {
  }
  return 0;
}
