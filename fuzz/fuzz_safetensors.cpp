// libFuzzer target: the safetensors reader. Every input must either load into
// tensors whose sizes agree with their shapes, or throw cae::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cae/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto f = cae::safetensors::File::parse(std::vector<unsigned char>(data, data + size),
                                                 "fuzz.safetensors");
    for (const auto& name : f.names()) {
      const auto t = f.get<double>(name);
      if (t.numel() != f.entry(name).shape.numel()) __builtin_trap();
    }
  } catch (const cae::Error&) {
  }
  return 0;
}
