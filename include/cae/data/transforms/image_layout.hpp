// Shared by the transforms: how an image [C, H, W] or a batch [N, C, H, W] is
// laid out, and the per-image generators that make random transforms
// reproducible under OpenMP.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data::detail {

struct ImageLayout {
  index_t images;    // N (1 for a single image)
  index_t channels;  // C
  index_t height, width;
  index_t plane() const { return height * width; }
  index_t image_size() const { return channels * height * width; }
};

template <typename T>
ImageLayout image_layout(const Tensor<T>& x, const char* who) {
  CAE_CHECK(x.rank() == 3 || x.rank() == 4, ShapeError, who,
            ": needs an image [C, H, W] or a batch [N, C, H, W], got ", x.shape());
  return {x.rank() == 4 ? x.dim(0) : 1, x.dim(-3), x.dim(-2), x.dim(-1)};
}

// One seed per image, drawn in image order before any parallel loop, so image
// i's random numbers depend on the caller's seed and i, never on threads.
inline std::vector<std::uint64_t> image_seeds(Rng& rng, index_t images) {
  std::vector<std::uint64_t> seeds(static_cast<std::size_t>(images));
  for (auto& s : seeds) s = rng.next_u64();
  return seeds;
}

template <typename T>
T clamp01(T v) {
  return std::min(T(1), std::max(T(0), v));
}

}  // namespace cae::data::detail
