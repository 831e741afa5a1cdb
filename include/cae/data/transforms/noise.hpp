// Additive Gaussian noise and random-pixel ("impulse") noise on images in [0, 1].
//
// Images are [C, H, W] or batches [N, C, H, W]. Each image gets its own
// generator, seeded in image order from the caller's Rng before the parallel
// loop, so a batch is noised in parallel yet identically for any thread count,
// and a given seed reproduces the same noise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cae/data/transforms/image_layout.hpp"
#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

// x = clamp(x + N(0, stddev^2), 0, 1) element-wise, in place. stddev is on the
// [0, 1] scale: the 003 paper's sigma = 30 on 0..255 is 30 / 255.
template <typename T>
void add_gaussian_noise_(Tensor<T>& x, double stddev, Rng& rng) {
  CAE_CHECK(stddev >= 0 && std::isfinite(stddev), Error, "add_gaussian_noise: stddev must be >= 0, got ",
            stddev);
  const detail::ImageLayout L = detail::image_layout(x, "add_gaussian_noise");
  const index_t n = L.images, c = L.channels, plane = L.plane();
  const std::vector<std::uint64_t> seeds = detail::image_seeds(rng, n);
  const index_t per_image = c * plane;
  T* p = x.data();
#pragma omp parallel for schedule(static) if (x.numel() > 65536)
  for (index_t i = 0; i < n; ++i) {
    Rng local(seeds[static_cast<std::size_t>(i)]);
    T* q = p + i * per_image;
    for (index_t j = 0; j < per_image; ++j)
      q[j] = detail::clamp01(static_cast<T>(q[j] + local.normal(0.0, stddev)));
  }
}

template <typename T>
Tensor<T> gaussian_noise(const Tensor<T>& x, double stddev, Rng& rng) {
  Tensor<T> y = x;
  add_gaussian_noise_(y, stddev, rng);
  return y;
}

// What a pixel picked by random-pixel noise becomes.
enum class PixelNoise {
  Uniform,        // each channel an independent uniform value in [0, 1)
  Salt,           // white (1 in every channel)
  SaltAndPepper,  // white or black with probability 1/2 each (same for every channel)
};

// The 004 paper's noise ("randomly picking pixel points from each image and
// randomly adding those pixel points to each image"): each pixel position is
// picked independently with probability `density` (so on average density * H * W
// pixels per image) and, in every channel, replaced by a random value
// (PixelNoise::Uniform, our reading of the paper) or by white / black.
// In place; returns how many pixel positions were changed over the whole batch.
template <typename T>
index_t add_random_pixel_noise_(Tensor<T>& x, double density, Rng& rng,
                                PixelNoise value = PixelNoise::Uniform) {
  CAE_CHECK(density >= 0 && density <= 1, Error,
            "add_random_pixel_noise: density must lie in [0, 1], got ", density);
  const detail::ImageLayout L = detail::image_layout(x, "add_random_pixel_noise");
  const index_t n = L.images, c = L.channels, plane = L.plane();
  const std::vector<std::uint64_t> seeds = detail::image_seeds(rng, n);
  std::vector<index_t> changed(static_cast<std::size_t>(n), 0);
  T* p = x.data();
#pragma omp parallel for schedule(static) if (x.numel() > 65536)
  for (index_t i = 0; i < n; ++i) {
    Rng local(seeds[static_cast<std::size_t>(i)]);
    T* q = p + i * c * plane;
    index_t count = 0;
    for (index_t j = 0; j < plane; ++j) {
      if (!local.bernoulli(density)) continue;
      ++count;
      if (value == PixelNoise::Uniform) {
        for (index_t k = 0; k < c; ++k) q[k * plane + j] = static_cast<T>(local.uniform());
      } else {
        const T v = value == PixelNoise::Salt || local.bernoulli(0.5) ? T(1) : T(0);
        for (index_t k = 0; k < c; ++k) q[k * plane + j] = v;
      }
    }
    changed[static_cast<std::size_t>(i)] = count;
  }
  index_t total = 0;
  for (index_t v : changed) total += v;
  return total;
}

template <typename T>
Tensor<T> random_pixel_noise(const Tensor<T>& x, double density, Rng& rng,
                             PixelNoise value = PixelNoise::Uniform) {
  Tensor<T> y = x;
  add_random_pixel_noise_(y, density, rng, value);
  return y;
}

}  // namespace cae::data
