// ConvWorkspace: what one convolution layer keeps between batches for every
// algorithm (conv/select.hpp), and the small helpers the algorithms share.
#pragma once

#include <algorithm>
#include <memory>

#include "cae/kernels/conv/winograd.hpp"
#include "cae/kernels/im2col.hpp"
#include "cae/kernels/packed_gemm.hpp"
#include "cae/kernels/workspace.hpp"
#include "cae/tensor.hpp"

namespace cae::kernels {

template <typename T>
struct ConvWorkspace {
  ScratchHandle scratch;       // per thread: a column tile and a [filters, cols] tile
  GemmScratch<T> gemm;         // packed GEMM blocks
  PackedOperand<T> packed;     // the weight, packed once for all tiles
  Tensor<T> columns;           // [tiles, patch * max_ld]: few tiles, built once, shared
  Tensor<T> product;           // [rows, max_ld]: a shared GEMM result or gathered operand
  Tensor<T> weight_partials;   // [chunks, weight size]
  WinogradWorkspace<T> winograd;  // the 3x3 stride-1 path
  // What `columns` holds, so the backward pass can reuse the forward's tiles.
  const T* columns_images = nullptr;
  ConvGeometry columns_geometry;
  index_t columns_batch = 0, columns_max_cols = 0;

  // Takes its per-thread memory from `s` (a model's Scratch) from now on.
  void share(const std::shared_ptr<Scratch>& s) {
    scratch.share(s);
    gemm.share(s);
    winograd.share(s);
  }
  ScratchBuffer<T> tiles() const { return {&*scratch, Scratch::kConvTiles}; }
};

namespace detail {

constexpr index_t kMaxChunks = 8;  // separately summed weight-gradient chunks
// Below this many multiply-adds a parallel region costs more than it saves
// (and on a busy machine a region waits for its slowest thread).
constexpr index_t kMinParallelWork = index_t(1) << 18;

inline index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }

// Block `i` of `blocks` near-equal blocks of [0, n).
inline void block_range(index_t i, index_t blocks, index_t n, index_t& begin, index_t& end) {
  begin = i * n / blocks;
  end = (i + 1) * n / blocks;
}

// da[i] += partials[0][i] + partials[1][i] + ..., always in chunk order.
template <typename T>
void add_partials(T* da, const T* partials, index_t chunks, index_t size) {
#pragma omp parallel for schedule(static) if (size > 16384)
  for (index_t i = 0; i < size; ++i) {
    T sum = partials[i];
    for (index_t c = 1; c < chunks; ++c) sum += partials[c * size + i];
    da[i] += sum;
  }
}

}  // namespace detail
}  // namespace cae::kernels
