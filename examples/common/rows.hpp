// Picking samples (rows of the batch dimension) out of an image tensor: for
// hand-made batches and for the rows of a figure.
#pragma once

#include <cstring>
#include <vector>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace repro {

// out = the rows of `all` [N, ...] at `indices`, [B, ...].
inline void gather_rows(const cae::Tensor<float>& all, const std::vector<cae::index_t>& indices,
                        cae::Tensor<float>& out) {
  const cae::index_t stride = all.numel() / all.dim(0);
  out.resize(all.shape().drop_front().prepend(static_cast<cae::index_t>(indices.size())));
  for (std::size_t k = 0; k < indices.size(); ++k) {
    CAE_CHECK(indices[k] >= 0 && indices[k] < all.dim(0), cae::Error, "gather_rows: index ",
              indices[k], " outside [0, ", all.dim(0), ")");
    std::memcpy(out.data() + static_cast<cae::index_t>(k) * stride, all.data() + indices[k] * stride,
                sizeof(float) * static_cast<std::size_t>(stride));
  }
}

// Copies of the samples of `batch` [N, ...] at `picks`, each [...].
inline std::vector<cae::Tensor<float>> samples_at(const cae::Tensor<float>& batch,
                                                  const std::vector<cae::index_t>& picks) {
  std::vector<cae::Tensor<float>> row;
  for (cae::index_t i : picks) row.push_back(cae::Tensor<float>(batch.sample(i)));
  return row;
}

}  // namespace repro
