// Fully connected kernels: y = x W^T + b, as torch.nn.functional.linear.
//
// The GEMMs run through packed_gemm.hpp's single-threaded product (cae's own
// AVX-512 kernel for float, Eigen otherwise), cut into fixed tiles that OpenMP
// threads share. The tiles never depend on the thread count, and the product's
// summation order within a tile depends only on the tile's sizes, so every
// element comes out bit for bit the same whatever the number of threads.
// (Splitting the work into one piece per thread would not.) The product packs
// its blocks into the caller's GemmScratch: nothing is allocated per call.
#pragma once

#include <algorithm>

#include "cae/kernels/packed_gemm.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

namespace linear_detail {

// Tile sizes: big enough to keep the packed panels busy, small enough that a
// batch of 64 x 1000 features still gives several tiles to share.
constexpr index_t kTileRows = 64;
constexpr index_t kTileCols = 256;
// Below this many multiply-adds (~50 us) a parallel region costs more than it
// saves, the more so on a busy machine (see kElementwiseGrain).
constexpr index_t kParallelWork = index_t(1) << 22;

inline index_t tiles(index_t n, index_t tile) { return (n + tile - 1) / tile; }

// Runs f(ti, tj) over a grid of tiles, shared by threads when `parallel`
// (small products skip OpenMP: even a false if-clause allocates a team).
template <typename F>
void for_each_tile(index_t row_tiles, index_t col_tiles, bool parallel, F f) {
  if (parallel && row_tiles * col_tiles > 1) {
#pragma omp parallel for collapse(2) schedule(static)
    for (index_t ti = 0; ti < row_tiles; ++ti)
      for (index_t tj = 0; tj < col_tiles; ++tj) f(ti, tj);
  } else {
    for (index_t ti = 0; ti < row_tiles; ++ti)
      for (index_t tj = 0; tj < col_tiles; ++tj) f(ti, tj);
  }
}

}  // namespace linear_detail

// x [rows, in], weight [out, in], bias [out] or null  ->  y [rows, out]
// scratch: per-thread packing memory, reserve()d by the caller.
template <typename T>
void linear_forward(T* y, const T* x, const T* weight, const T* bias, index_t rows, index_t in,
                    index_t out, GemmScratch<T>& scratch) {
  using namespace linear_detail;
  for_each_tile(tiles(rows, kTileRows), tiles(out, kTileCols), rows * in * out > kParallelWork,
                [&](index_t ti, index_t tj) {
                  const index_t r0 = ti * kTileRows, nr = std::min(kTileRows, rows - r0);
                  const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, out - c0);
                  T* tile = y + r0 * out + c0;
                  for (index_t r = 0; r < nr; ++r)
                    for (index_t c = 0; c < nc; ++c) tile[r * out + c] = bias ? bias[c0 + c] : T(0);
                  // tile += x[r0:, :] * weight[c0:, :]^T
                  gemm<T>(nr, nc, in, {x + r0 * in, in}, {weight + c0 * in, in, true}, tile, out,
                          true, scratch);
                });
}

// dy [rows, out], x [rows, in], weight [out, in]  ->
//   dweight [out, in] += dy^T x,  dbias [out] += column sums of dy (skipped when null),
//   dx [rows, in] = dy W (skipped when null; overwritten, not accumulated)
template <typename T>
void linear_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                     index_t rows, index_t in, index_t out, GemmScratch<T>& scratch) {
  using namespace linear_detail;
  const bool parallel = rows * in * out > kParallelWork;

  // Each tile of dweight sums over the whole batch in one product: no
  // reduction is ever split between threads.
  for_each_tile(tiles(out, kTileRows), tiles(in, kTileCols), parallel, [&](index_t ti, index_t tj) {
    const index_t o0 = ti * kTileRows, no = std::min(kTileRows, out - o0);
    const index_t i0 = tj * kTileCols, ni = std::min(kTileCols, in - i0);
    // dweight[o0:, i0:] += dy[:, o0:]^T * x[:, i0:]
    gemm<T>(no, ni, rows, {dy + o0, out, true}, {x + i0, in}, dweight + o0 * in + i0, in, true,
            scratch);
  });

  if (dbias) {
    // Summed in row order, then added once, like PyTorch's grad += dy.sum(0).
    for_each_tile(1, tiles(out, kTileCols), parallel, [&](index_t, index_t tj) {
      const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, out - c0);
      T sum[kTileCols] = {};
      for (index_t r = 0; r < rows; ++r) {
        const T* row = dy + r * out + c0;
        for (index_t c = 0; c < nc; ++c) sum[c] += row[c];
      }
      for (index_t c = 0; c < nc; ++c) dbias[c0 + c] += sum[c];
    });
  }

  if (dx) {
    for_each_tile(tiles(rows, kTileRows), tiles(in, kTileCols), parallel, [&](index_t ti, index_t tj) {
      const index_t r0 = ti * kTileRows, nr = std::min(kTileRows, rows - r0);
      const index_t c0 = tj * kTileCols, nc = std::min(kTileCols, in - c0);
      // dx[r0:, c0:] = dy[r0:, :] * weight[:, c0:]
      gemm<T>(nr, nc, out, {dy + r0 * out, out}, {weight + c0, in}, dx + r0 * in + c0, in, false,
              scratch);
    });
  }
}

}  // namespace cae::kernels
