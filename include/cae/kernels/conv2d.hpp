// Conv2d kernels: im2col + GEMM, threaded over the images of a batch.
//
// For one image x_n [Cin, H, W] with the column matrix cols_n = im2col(x_n)
// [Cin*kh*kw, Ho*Wo] (see im2col.hpp), and the weight seen as a matrix
// W [Cout, Cin*kh*kw]:
//   forward          y_n  = W * cols_n + bias
//   input gradient   dx_n = col2im(W^T * dy_n)
//   weight gradient  dW  += dy_n * cols_n^T
// The column matrix is built one tile of output rows at a time, so it stays in
// cache and no [K, Ho*Wo] buffer per image is ever stored; backward rebuilds the
// tiles instead of keeping them from forward. A 1x1 convolution at stride 1
// without padding uses the image itself as its column matrix.
//
// Reproducibility: every image is computed by one thread, and the weight
// gradient is summed per fixed chunk of images (the chunks depend on the batch
// size, never on the thread count) and the chunk sums are added in chunk
// order, so results are bitwise identical for any number of threads.
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "cae/kernels/im2col.hpp"
#include "cae/kernels/workspace.hpp"
#include "cae/tensor.hpp"

namespace cae::kernels {

// Scratch of one convolution layer, reused across batches.
template <typename T>
struct ConvWorkspace {
  ThreadScratch<T> columns;    // one column tile per thread
  Tensor<T> weight_partials;   // [chunks, weight size]: per-chunk weight gradients
};

namespace detail {

template <typename T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// A row-major matrix view whose rows lie `stride` elements apart: a tile of
// columns cut out of a wider [rows, stride] matrix.
template <typename T>
using StridedMap = Eigen::Map<RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstStridedMap = Eigen::Map<const RowMatrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Output rows per column tile: enough columns for an efficient GEMM, few enough
// that the tile stays in the L2 cache. A function of the geometry only.
inline index_t rows_per_tile(const ConvGeometry& g) {
  if (g.is_pointwise() || g.out_w == 0) return std::max<index_t>(g.out_h, 1);
  constexpr index_t kTileElements = 64 * 1024;
  constexpr index_t kMinColumns = 256;
  const index_t by_cache = kTileElements / std::max<index_t>(g.patch_size() * g.out_w, 1);
  const index_t by_gemm = (kMinColumns + g.out_w - 1) / g.out_w;
  return std::clamp<index_t>(std::max(by_cache, by_gemm), 1, std::max<index_t>(g.out_h, 1));
}

// Scratch elements one thread needs for a column tile.
inline index_t tile_elements(const ConvGeometry& g) {
  return g.is_pointwise() ? 0 : g.patch_size() * rows_per_tile(g) * g.out_w;
}

// Chunks of images whose weight gradients are summed separately. More chunks
// balance threads better; fewer keep the partial sums small. Depends only on
// the problem, never on the thread count.
inline index_t weight_grad_chunks(index_t batch, index_t weight_size) {
  const index_t most = weight_size <= (index_t(1) << 18) ? 8 : 4;
  return std::clamp<index_t>(batch, 1, most);
}

// out [filters, positions] += a [filters, patch] * im2col(image), for the tile
// of output rows [oh_begin, oh_end).
template <typename T>
void patch_product_tile(T* out, const T* a, const T* image, const ConvGeometry& g,
                        index_t filters, index_t oh_begin, index_t oh_end, T* scratch) {
  const index_t K = g.patch_size(), P = g.positions(), cols = (oh_end - oh_begin) * g.out_w;
  Eigen::Map<const RowMatrix<T>> A(a, filters, K);
  StridedMap<T> Out(out + oh_begin * g.out_w, filters, cols, Eigen::OuterStride<>(P));
  if (g.is_pointwise()) {
    ConstStridedMap<T> B(image + oh_begin * g.out_w, K, cols, Eigen::OuterStride<>(P));
    Out.noalias() += A * B;
  } else {
    im2col(scratch, image, g, oh_begin, oh_end);
    Eigen::Map<const RowMatrix<T>> B(scratch, K, cols);
    Out.noalias() += A * B;
  }
}

// image [channels, height, width] += col2im(a^T * b) for a [filters, patch]
// and b [filters, positions].
template <typename T>
void patch_scatter(T* image, const T* a, const T* b, const ConvGeometry& g, index_t filters,
                   T* scratch) {
  const index_t K = g.patch_size(), P = g.positions();
  Eigen::Map<const RowMatrix<T>> A(a, filters, K);
  if (g.is_pointwise()) {
    Eigen::Map<RowMatrix<T>> Image(image, K, P);
    Image.noalias() += A.transpose() * Eigen::Map<const RowMatrix<T>>(b, filters, P);
    return;
  }
  const index_t rows = rows_per_tile(g);
  for (index_t oh = 0; oh < g.out_h; oh += rows) {
    const index_t oh_end = std::min(g.out_h, oh + rows), cols = (oh_end - oh) * g.out_w;
    ConstStridedMap<T> B(b + oh * g.out_w, filters, cols, Eigen::OuterStride<>(P));
    Eigen::Map<RowMatrix<T>> Columns(scratch, K, cols);
    Columns.noalias() = A.transpose() * B;
    col2im(image, scratch, g, oh, oh_end);
  }
}

// dw [filters, patch] += b [filters, positions] * im2col(image)^T
template <typename T>
void patch_weight_grad(T* dw, const T* b, const T* image, const ConvGeometry& g, index_t filters,
                       T* scratch) {
  const index_t K = g.patch_size(), P = g.positions();
  Eigen::Map<RowMatrix<T>> dW(dw, filters, K);
  if (g.is_pointwise()) {
    dW.noalias() += Eigen::Map<const RowMatrix<T>>(b, filters, P) *
                    Eigen::Map<const RowMatrix<T>>(image, K, P).transpose();
    return;
  }
  const index_t rows = rows_per_tile(g);
  for (index_t oh = 0; oh < g.out_h; oh += rows) {
    const index_t oh_end = std::min(g.out_h, oh + rows), cols = (oh_end - oh) * g.out_w;
    im2col(scratch, image, g, oh, oh_end);
    ConstStridedMap<T> B(b + oh * g.out_w, filters, cols, Eigen::OuterStride<>(P));
    dW.noalias() += B * Eigen::Map<const RowMatrix<T>>(scratch, K, cols).transpose();
  }
}

// dbias [channels] += sums of dy [batch, channels, spatial] over batch and space,
// in a fixed order.
template <typename T>
void bias_grad(T* dbias, const T* dy, index_t batch, index_t channels, index_t spatial) {
#pragma omp parallel for schedule(static) if (batch * channels * spatial > 65536)
  for (index_t c = 0; c < channels; ++c) {
    T sum = 0;
    for (index_t n = 0; n < batch; ++n)
      sum += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(dy + (n * channels + c) * spatial,
                                                                  spatial)
                 .sum();
    dbias[c] += sum;
  }
}

// dw [filters, patch] += the weight gradient summed over the batch, where
// sample_grad(n, partial, scratch) adds image n's gradient into `partial`.
// Images are split in fixed chunks; see the note on reproducibility above.
template <typename T, typename SampleGrad>
void chunked_weight_grad(T* dw, index_t weight_size, index_t batch, ConvWorkspace<T>& ws,
                         SampleGrad sample_grad) {
  const index_t chunks = weight_grad_chunks(batch, weight_size);
  if (chunks == 1) {
    for (index_t n = 0; n < batch; ++n) sample_grad(n, dw, ws.columns.local());
    return;
  }
  ws.weight_partials.resize({chunks, weight_size});
  T* partials = ws.weight_partials.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t c = 0; c < chunks; ++c) {
    T* partial = partials + c * weight_size;
    std::fill(partial, partial + weight_size, T(0));
    for (index_t n = c * batch / chunks; n < (c + 1) * batch / chunks; ++n)
      sample_grad(n, partial, ws.columns.local());
  }
#pragma omp parallel for schedule(static) if (weight_size > 16384)
  for (index_t i = 0; i < weight_size; ++i) {
    T sum = partials[i];
    for (index_t c = 1; c < chunks; ++c) sum += partials[c * weight_size + i];
    dw[i] += sum;
  }
}

}  // namespace detail

// y [batch, out_channels, out_h, out_w] = conv(x [batch, g.channels, g.height, g.width],
//   weight [out_channels, g.channels, kernel_h, kernel_w]) + bias [out_channels] (bias may be null)
template <typename T>
void conv2d_forward(T* y, const T* x, const T* weight, const T* bias, index_t batch,
                    index_t out_channels, const ConvGeometry& g, ConvWorkspace<T>& ws) {
  const index_t P = g.positions(), rows = detail::rows_per_tile(g);
  const index_t tiles = (g.out_h + rows - 1) / rows;
  ws.columns.reserve(detail::tile_elements(g));
  // Tiles of one image write disjoint output columns, so (image, tile) pairs are
  // independent tasks: this keeps both threads busy even for a single image.
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t task = 0; task < batch * tiles; ++task) {
    const index_t n = task / tiles, oh = (task % tiles) * rows;
    const index_t oh_end = std::min(g.out_h, oh + rows);
    T* yn = y + n * out_channels * P;
    for (index_t c = 0; c < out_channels; ++c)
      std::fill(yn + c * P + oh * g.out_w, yn + c * P + oh_end * g.out_w, bias ? bias[c] : T(0));
    detail::patch_product_tile(yn, weight, x + n * g.image_size(), g, out_channels, oh, oh_end,
                               ws.columns.local());
  }
}

// Given dy [batch, out_channels, out_h, out_w] and the forward's x and weight:
//   dx [batch, g.channels, g.height, g.width] = dL/dx   (skipped when dx is null)
//   dweight [out_channels, g.channels, kernel_h, kernel_w] += dL/dweight
//   dbias [out_channels] += dL/dbias                     (skipped when dbias is null)
template <typename T>
void conv2d_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                     index_t batch, index_t out_channels, const ConvGeometry& g,
                     ConvWorkspace<T>& ws) {
  const index_t P = g.positions();
  ws.columns.reserve(detail::tile_elements(g));
  if (dbias) detail::bias_grad(dbias, dy, batch, out_channels, P);
  detail::chunked_weight_grad(dweight, out_channels * g.patch_size(), batch, ws,
                              [&](index_t n, T* dw, T* scratch) {
                                detail::patch_weight_grad(dw, dy + n * out_channels * P,
                                                          x + n * g.image_size(), g, out_channels,
                                                          scratch);
                              });
  if (!dx) return;
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t n = 0; n < batch; ++n) {
    T* dxn = dx + n * g.image_size();
    std::fill(dxn, dxn + g.image_size(), T(0));
    detail::patch_scatter(dxn, weight, dy + n * out_channels * P, g, out_channels,
                          ws.columns.local());
  }
}

}  // namespace cae::kernels
