// libFuzzer target: the IDX parser, raw and gzip-compressed. Every input must
// either parse into consistent data or throw cae::Error; a crash, a sanitizer
// report, a hang or an allocation past libFuzzer's limit is a bug.
#include <cstddef>
#include <cstdint>

#include "cae/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cae::data;
  try {
    const IdxArray a = parse_idx(data, size, "fuzz.idx");
    cae::index_t n = 1;
    for (cae::index_t d : a.dims) n *= d;
    if (a.dims.empty() || static_cast<std::size_t>(n) != a.data.size()) __builtin_trap();
  } catch (const cae::Error&) {
  }
  try {
    const cae::Tensor<float> images = parse_idx_images(data, size, "fuzz.idx");
    if (images.rank() != 4 || images.dim(1) != 1) __builtin_trap();
    for (float v : images)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  } catch (const cae::Error&) {
  }
  try {
    const std::vector<int> labels = parse_idx_labels(data, size, "fuzz.idx", 10);
    for (int l : labels)
      if (l < 0 || l >= 10) __builtin_trap();
  } catch (const cae::Error&) {
  }
  return 0;
}
