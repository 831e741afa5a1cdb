// Fully connected kernels: y = x W^T + b, as torch.nn.functional.linear.
//
// The GEMMs run through Eigen, cut into fixed tiles that OpenMP threads share.
// The tiles never depend on the thread count, and Eigen's summation order
// within a tile depends only on the tile's sizes, so every element comes out
// bit for bit the same whatever the number of threads. (Splitting the work
// into one piece per thread would not: Eigen sums a row differently depending
// on where it falls in its blocking.)
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "cae/shape.hpp"

namespace cae::kernels {

namespace linear_detail {

template <typename T>
using Matrix = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using ConstMatrix =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Tile sizes: big enough to keep Eigen's packed panels busy, small enough that
// a batch of 64 x 1000 features still gives several tiles to share.
constexpr index_t kTileRows = 64;
constexpr index_t kTileCols = 256;
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr index_t kParallelWork = index_t(1) << 16;

inline index_t tiles(index_t n, index_t tile) { return (n + tile - 1) / tile; }

}  // namespace linear_detail

// x [rows, in], weight [out, in], bias [out] or null  ->  y [rows, out]
template <typename T>
void linear_forward(T* y, const T* x, const T* weight, const T* bias, index_t rows, index_t in,
                    index_t out) {
  using namespace linear_detail;
  ConstMatrix<T> X(x, rows, in), W(weight, out, in);
  Matrix<T> Y(y, rows, out);
  const index_t row_tiles = tiles(rows, kTileRows), col_tiles = tiles(out, kTileCols);
#pragma omp parallel for collapse(2) schedule(static) if (rows * in * out > kParallelWork)
  for (index_t ti = 0; ti < row_tiles; ++ti) {
    for (index_t tj = 0; tj < col_tiles; ++tj) {
      const index_t r0 = ti * kTileRows, nr = std::min(kTileRows, rows - r0);
      const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, out - c0);
      auto tile = Y.block(r0, c0, nr, nc);
      if (bias) {
        for (index_t r = 0; r < nr; ++r)
          for (index_t c = 0; c < nc; ++c) tile(r, c) = bias[c0 + c];
      } else {
        tile.setZero();
      }
      if (in > 0) tile.noalias() += X.middleRows(r0, nr) * W.middleRows(c0, nc).transpose();
    }
  }
}

// dy [rows, out], x [rows, in], weight [out, in]  ->
//   dweight [out, in] += dy^T x,  dbias [out] += column sums of dy (skipped when null),
//   dx [rows, in] = dy W (skipped when null; overwritten, not accumulated)
template <typename T>
void linear_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                     index_t rows, index_t in, index_t out) {
  using namespace linear_detail;
  ConstMatrix<T> X(x, rows, in), W(weight, out, in), DY(dy, rows, out);
  const bool parallel = rows * in * out > kParallelWork;

  // Each tile of dweight sums over the whole batch in one GEMM: no reduction
  // is ever split between threads.
  Matrix<T> DW(dweight, out, in);
  const index_t out_tiles = tiles(out, kTileRows), in_tiles = tiles(in, kTileCols);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
  for (index_t ti = 0; ti < out_tiles; ++ti) {
    for (index_t tj = 0; tj < in_tiles; ++tj) {
      const index_t o0 = ti * kTileRows, no = std::min(kTileRows, out - o0);
      const index_t i0 = tj * kTileCols, ni = std::min(kTileCols, in - i0);
      if (rows > 0)
        DW.block(o0, i0, no, ni).noalias() +=
            DY.middleCols(o0, no).transpose() * X.middleCols(i0, ni);
    }
  }

  if (dbias) {
    // Summed in row order, then added once, like PyTorch's grad += dy.sum(0).
    const index_t col_tiles = tiles(out, kTileCols);
#pragma omp parallel for schedule(static) if (parallel)
    for (index_t tj = 0; tj < col_tiles; ++tj) {
      const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, out - c0);
      T sum[kTileCols] = {};
      for (index_t r = 0; r < rows; ++r) {
        const T* row = dy + r * out + c0;
        for (index_t c = 0; c < nc; ++c) sum[c] += row[c];
      }
      for (index_t c = 0; c < nc; ++c) dbias[c0 + c] += sum[c];
    }
  }

  if (dx) {
    Matrix<T> DX(dx, rows, in);
    const index_t row_tiles = tiles(rows, kTileRows), col_tiles = tiles(in, kTileCols);
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (index_t ti = 0; ti < row_tiles; ++ti) {
      for (index_t tj = 0; tj < col_tiles; ++tj) {
        const index_t r0 = ti * kTileRows, nr = std::min(kTileRows, rows - r0);
        const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, in - c0);
        auto tile = DX.block(r0, c0, nr, nc);
        if (out > 0) {
          tile.noalias() = DY.middleRows(r0, nr) * W.middleCols(c0, nc);
        } else {
          tile.setZero();
        }
      }
    }
  }
}

}  // namespace cae::kernels
