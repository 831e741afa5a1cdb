// libFuzzer target: Kaggle-style pixel CSV. Every input must either parse into
// consistent data or throw cae::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cae/data/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cae::data;
  try {
    std::vector<long long> ids;
    const Dataset d = parse_pixel_csv(reinterpret_cast<const char*>(data), size, "fuzz.csv",
                                      PixelCsvOptions(), &ids);
    if (d.images.rank() != 4 || d.size() == 0) __builtin_trap();
    if (d.labelled() == !ids.empty()) __builtin_trap();
    if (!d.labels.empty() && static_cast<cae::index_t>(d.labels.size()) != d.size()) __builtin_trap();
    for (int l : d.labels)
      if (l < 0 || l >= 10) __builtin_trap();
    for (float v : d.images)
      if (!(v >= 0.0f && v <= 1.0f)) __builtin_trap();
  } catch (const cae::Error&) {
  }
  return 0;
}
