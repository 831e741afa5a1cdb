// Fixed CDF tables and index layout shared by fuzz/fuzz_codec.cpp and the seed
// writer in fuzz/fuzz_codec.seeds.sh: a peaked and a wide Laplacian, a flat
// table, a single-symbol table and an escape-only one, at 16 and 8 bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "cae/codec/cdf.hpp"
#include "cae/shape.hpp"

namespace fuzz_codec {

inline std::vector<cae::codec::CdfTable> tables() {
  using cae::codec::pmf_to_cdf;
  auto laplace = [](int n, double width) {
    std::vector<float> p(static_cast<std::size_t>(n));
    for (int s = 0; s < n; ++s) p[s] = static_cast<float>(std::exp(-std::abs(s - n / 2) / width));
    return p;
  };
  return {pmf_to_cdf(laplace(31, 0.7), 1e-4f, -15),
          pmf_to_cdf(laplace(121, 12.0), 1e-3f, -60),
          pmf_to_cdf(std::vector<float>(16, 1.0f), 1e-2f, 0, 8),
          pmf_to_cdf({1.0f}, 1e-5f, 3),
          pmf_to_cdf({}, 1.0f, 0)};
}

// The table of each element of a latent: one table per channel (dimension 0),
// cycling through the fixed tables, as a factorized prior indexes them.
inline std::vector<std::int32_t> indexes_for(const cae::Shape& shape, std::size_t n_tables) {
  const auto n = static_cast<std::size_t>(shape.numel());
  const auto per_channel = n / static_cast<std::size_t>(shape[0]);
  std::vector<std::int32_t> idx(n);
  for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<std::int32_t>((i / per_channel) % n_tables);
  return idx;
}

}  // namespace fuzz_codec
