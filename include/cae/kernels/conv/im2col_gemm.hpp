// Convolution by im2col + GEMM, threaded over tiles of the batch.
//
// For one image x_n [Cin, H, W] with the column matrix cols_n = im2col(x_n)
// [Cin*kh*kw, Ho*Wo] (see im2col.hpp), and the weight seen as a matrix
// W [Cout, Cin*kh*kw]:
//   forward          y_n  = W * cols_n + bias
//   input gradient   dx_n = col2im(W^T * dy_n)
//   weight gradient  dW  += dy_n * cols_n^T
// ConvTranspose2d runs the same three products with the roles of x and dy
// swapped, so they are written once here, for a generic "filters" side
// (Cout of a convolution) and "image" side (described by ConvGeometry):
//   patch_gemm             out [N, filters, P] = A * im2col(images) + bias
//   patch_gemm_transposed  images = col2im(A^T * b) + bias
//   patch_weight_grad      dA += b * im2col(images)^T
//
// The column matrix is never stored for a whole batch. It is built one tile at
// a time: a few output rows of one large image, or several small images side by
// side, so that a GEMM always has a few hundred columns (GEMMs with as few as
// 36 columns, a 6x6 image, run several times slower) while a tile stays small.
// A 1x1 convolution at stride 1 without padding uses the image in place.
//
// Threads, in one of two ways (ConvPlan decides, from the shapes):
//   many tiles  tiles (or images, or chunks of tiles for the weight gradient)
//               are independent tasks for `#pragma omp parallel for`, each
//               running single-threaded GEMMs; weight gradients are summed per
//               fixed chunk of tiles and the chunk sums added in chunk order;
//   few tiles   (large channel counts on small images, e.g. a ResNet block at
//               12x12) tiles are taken one after the other and each product is
//               one GEMM run by all threads (parallel_gemm), which packs each
//               operand once instead of once per task.
// Every cut depends on the shapes only, never on the thread count, so results
// are bitwise identical for any number of threads.
#pragma once

#include <algorithm>
#include <cstring>

#include "cae/kernels/conv/workspace.hpp"
#include "cae/kernels/im2col.hpp"
#include "cae/kernels/packed_gemm.hpp"
#include "cae/tensor.hpp"

namespace cae::kernels {

// How a batch is cut into tiles and tasks. A function of the shapes only.
struct ConvPlan {
  index_t batch = 0;
  index_t images_per_tile = 1;  // > 1: whole small images side by side in one tile
  index_t rows_per_tile = 1;    // output rows per tile (out_h when images_per_tile > 1)
  index_t row_tiles = 1;        // tiles per image
  index_t tiles = 0;            // tiles in the batch
  index_t max_cols = 0;         // columns of the widest tile
  index_t max_ld = 0;           // row stride of scratch holding any tile
  index_t chunks = 1;           // separately summed weight-gradient chunks of tiles

  struct Tile {
    index_t n_begin, n_end;    // images
    index_t oh_begin, oh_end;  // output rows of each image
    index_t cols;              // (n_end - n_begin) * (oh_end - oh_begin) * out_w
    index_t ld;                // row stride of the tile's scratch matrices
    bool one_image() const { return n_end - n_begin == 1; }
  };
  Tile tile(index_t t, const ConvGeometry& g) const {
    if (images_per_tile > 1) {
      const index_t n = t * images_per_tile, n_end = std::min(batch, n + images_per_tile);
      const index_t cols = (n_end - n) * g.positions();
      return {n, n_end, 0, g.out_h, cols, padded_stride(cols)};
    }
    const index_t n = t / row_tiles, oh = (t % row_tiles) * rows_per_tile;
    const index_t oh_end = std::min(g.out_h, oh + rows_per_tile);
    const index_t cols = (oh_end - oh) * g.out_w;
    return {n, n + 1, oh, oh_end, cols, padded_stride(cols)};
  }
  // Groups of tiles whose images no other group touches (the col2im side):
  // a tile of several images, or all row tiles of one image.
  index_t units() const { return images_per_tile > 1 ? tiles : batch; }
  index_t unit_first_tile(index_t u) const { return images_per_tile > 1 ? u : u * row_tiles; }
  index_t unit_tiles() const { return images_per_tile > 1 ? 1 : row_tiles; }
};

namespace detail {
constexpr index_t kTileColumns = 512;         // aim of a small-image tile's width
constexpr index_t kTileElements = 64 * 1024;  // a large image's column tile: ~L2 sized
constexpr index_t kMinTileColumns = 256;      // ...but never narrower than this
constexpr index_t kMinTasks = 8;  // fewer independent tasks: one multi-threaded GEMM at a time
constexpr index_t kPartialElements = index_t(1) << 22;  // memory for weight partials
}  // namespace detail

inline ConvPlan make_conv_plan(const ConvGeometry& g, index_t filters, index_t batch) {
  using namespace detail;
  ConvPlan p;
  p.batch = batch;
  const index_t P = std::max<index_t>(g.positions(), 1), K = g.patch_size();
  if (P < kTileColumns && batch > 1) {
    p.images_per_tile = std::min(batch, ceil_div(kTileColumns, P));
    p.rows_per_tile = g.out_h;
    p.row_tiles = 1;
    p.tiles = ceil_div(batch, p.images_per_tile);
  } else {
    const index_t out_w = std::max<index_t>(g.out_w, 1), out_h = std::max<index_t>(g.out_h, 1);
    const index_t by_cache = g.is_pointwise() ? out_h : kTileElements / std::max<index_t>(K * out_w, 1);
    p.rows_per_tile = std::clamp<index_t>(std::max(by_cache, ceil_div(kMinTileColumns, out_w)), 1, out_h);
    p.row_tiles = ceil_div(out_h, p.rows_per_tile);
    p.tiles = batch * p.row_tiles;
  }
  p.max_cols = p.images_per_tile * p.rows_per_tile * g.out_w;
  p.max_ld = padded_stride(p.max_cols);
  const index_t weight_size = std::max<index_t>(filters * K, 1);
  p.chunks = std::clamp<index_t>(std::min(kMaxChunks, kPartialElements / weight_size), 1,
                                 std::max<index_t>(p.tiles, 1));
  return p;
}

namespace detail {

// The per-thread scratch: a column tile, then a [filters, cols] tile.
template <typename T>
void reserve_scratch(ConvWorkspace<T>& ws, const ConvPlan& p, const ConvGeometry& g,
                     index_t filters) {
  ws.tiles().reserve((g.patch_size() + filters) * p.max_ld);
  ws.gemm.reserve();
}

// The tile's column matrix [patch, cols]: the image itself for a pointwise
// convolution of one image, else im2col into `buffer`.
template <typename T>
MatrixRef<T> tile_columns(const T* images, const ConvGeometry& g, const ConvPlan::Tile& t,
                          T* buffer) {
  if (g.is_pointwise() && t.one_image())
    return {images + t.n_begin * g.image_size() + t.oh_begin * g.out_w, g.positions()};
  const index_t per_image = (t.oh_end - t.oh_begin) * g.out_w;
  for (index_t n = t.n_begin; n < t.n_end; ++n)
    im2col(buffer + (n - t.n_begin) * per_image, t.ld, images + n * g.image_size(), g,
           t.oh_begin, t.oh_end);
  return {buffer, t.ld};
}

// Rows [f_begin, f_end) of b [batch, filters, P] over the tile's columns: a
// view for one image, gathered into `buffer` for several.
template <typename T>
MatrixRef<T> tile_rows(const T* b, index_t filters, index_t f_begin, index_t f_end,
                       const ConvGeometry& g, const ConvPlan::Tile& t, T* buffer) {
  const index_t P = g.positions();
  if (t.one_image()) return {b + (t.n_begin * filters + f_begin) * P + t.oh_begin * g.out_w, P};
  for (index_t n = t.n_begin; n < t.n_end; ++n)
    for (index_t f = f_begin; f < f_end; ++f)
      std::memcpy(buffer + (f - f_begin) * t.ld + (n - t.n_begin) * P,
                  b + (n * filters + f) * P, sizeof(T) * P);
  return {buffer, t.ld};
}

// tile_rows for all filters, gathered by all threads into ws.product.
template <typename T>
MatrixRef<T> shared_tile_rows(const T* b, index_t filters, const ConvGeometry& g,
                              const ConvPlan& plan, const ConvPlan::Tile& t,
                              ConvWorkspace<T>& ws) {
  if (t.one_image()) return tile_rows(b, filters, 0, filters, g, t, static_cast<T*>(nullptr));
  const index_t P = g.positions(), images = t.n_end - t.n_begin;
  ws.product.resize({filters, plan.max_ld});
  T* out = ws.product.data();
#pragma omp parallel for schedule(static) if (filters * t.cols > kMinParallelWork)
  for (index_t f = 0; f < filters; ++f)
    for (index_t n = 0; n < images; ++n)
      std::memcpy(out + f * t.ld + n * P, b + ((t.n_begin + n) * filters + f) * P, sizeof(T) * P);
  return {out, t.ld};
}

// Builds tile t's column matrix at `cols` (row stride t.ld), by all threads,
// each taking a block of channels.
template <typename T>
void build_columns_parallel(T* cols, const T* images, const ConvGeometry& g,
                            const ConvPlan::Tile& t) {
  const index_t taps = g.kernel_h * g.kernel_w, per_image = (t.oh_end - t.oh_begin) * g.out_w;
  const index_t blocks = std::min<index_t>(kMinTasks, g.channels);
#pragma omp parallel for schedule(dynamic, 1) if (g.patch_size() * t.cols > kMinParallelWork)
  for (index_t blk = 0; blk < blocks; ++blk) {
    index_t c0, c1;
    block_range(blk, blocks, g.channels, c0, c1);
    ConvGeometry sub = g;
    sub.channels = c1 - c0;
    for (index_t n = t.n_begin; n < t.n_end; ++n)
      im2col(cols + c0 * taps * t.ld + (n - t.n_begin) * per_image, t.ld,
             images + n * g.image_size() + c0 * g.height * g.width, sub, t.oh_begin, t.oh_end);
  }
}

// The column matrix of tile `index`, for products run one tile at a time by all
// threads: the image itself (pointwise, one image), or built into ws.columns.
// With few tiles all of them are kept there, and with `reuse` tiles already
// built from the same images (same pointer, shapes and tiling) are used again:
// the caller promises the images did not change since (a backward pass after
// its forward).
template <typename T>
MatrixRef<T> serial_tile_columns(const T* images, const ConvGeometry& g, const ConvPlan& plan,
                                 index_t index, const ConvPlan::Tile& t, ConvWorkspace<T>& ws,
                                 bool reuse) {
  if (g.is_pointwise() && t.one_image())
    return {images + t.n_begin * g.image_size() + t.oh_begin * g.out_w, g.positions()};
  const index_t tile_size = g.patch_size() * plan.max_ld;
  if (plan.tiles >= kMinTasks) {
    ws.columns.resize({tile_size});
    ws.columns_images = nullptr;
    build_columns_parallel(ws.columns.data(), images, g, t);
    return {ws.columns.data(), t.ld};
  }
  if (index == 0 && !(reuse && ws.columns_images == images && ws.columns_geometry == g &&
                      ws.columns_batch == plan.batch && ws.columns_max_cols == plan.max_cols)) {
    ws.columns.resize({plan.tiles, tile_size});
    for (index_t k = 0; k < plan.tiles; ++k)
      build_columns_parallel(ws.columns.data() + k * tile_size, images, g, plan.tile(k, g));
    ws.columns_images = images;
    ws.columns_geometry = g;
    ws.columns_batch = plan.batch;
    ws.columns_max_cols = plan.max_cols;
  }
  return {ws.columns.data() + index * tile_size, t.ld};
}

}  // namespace detail

// out [batch, filters, P] = a [filters, patch] * im2col(images [batch, C, H, W]) + bias [filters]
// (bias may be null). Conv2d's forward; ConvTranspose2d's input gradient.
// reuse_columns: `images` are unchanged since the last call on this workspace
// (a backward pass after its forward), so column tiles built then may be kept.
template <typename T>
void patch_gemm(T* out, const T* a, const T* bias, const T* images, index_t batch,
                index_t filters, const ConvGeometry& g, ConvWorkspace<T>& ws,
                bool reuse_columns = false) {
  using namespace detail;
  if (!reuse_columns) ws.columns_images = nullptr;  // whatever it holds is stale
  const index_t K = g.patch_size(), P = g.positions();
  const bool parallel = batch * filters * K * P > kMinParallelWork;
  const ConvPlan plan = make_conv_plan(g, filters, batch);
  reserve_scratch(ws, plan, g, filters);
  const MatrixRef<T> A{a, K};
  // A tile's result [filters, cols] (row stride t.ld) in y, scattered to out
  // with the bias.
  auto scatter = [&](const T* y, const ConvPlan::Tile& t, index_t f) {
    const T b = bias ? bias[f] : T(0);
    const index_t per_image = (t.oh_end - t.oh_begin) * g.out_w;
    for (index_t n = t.n_begin; n < t.n_end; ++n) {
      const T* src = y + f * t.ld + (n - t.n_begin) * per_image;
      T* dst = out + (n * filters + f) * P + t.oh_begin * g.out_w;
      for (index_t i = 0; i < per_image; ++i) dst[i] = src[i] + b;
    }
  };
  // One image: the result accumulates straight into out, pre-set to the bias.
  auto fill_bias = [&](const ConvPlan::Tile& t, index_t f) {
    T* o = out + (t.n_begin * filters + f) * P + t.oh_begin * g.out_w;
    std::fill(o, o + t.cols, bias ? bias[f] : T(0));
  };
  if (plan.tiles >= kMinTasks) {
    ws.packed.pack(filters, K, A);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (index_t k = 0; k < plan.tiles; ++k) {
      const ConvPlan::Tile t = plan.tile(k, g);
      T* scratch = ws.tiles().local();
      const MatrixRef<T> cols = tile_columns(images, g, t, scratch);
      if (t.one_image()) {
        for (index_t f = 0; f < filters; ++f) fill_bias(t, f);
        gemm(ws.packed, t.cols, cols, out + t.n_begin * filters * P + t.oh_begin * g.out_w, P,
             true, ws.gemm);
      } else {
        T* y = scratch + K * plan.max_ld;
        gemm(ws.packed, t.cols, cols, y, t.ld, false, ws.gemm);
        for (index_t f = 0; f < filters; ++f) scatter(y, t, f);
      }
    }
    return;
  }
  for (index_t k = 0; k < plan.tiles; ++k) {
    const ConvPlan::Tile t = plan.tile(k, g);
    const MatrixRef<T> cols = serial_tile_columns(images, g, plan, k, t, ws, reuse_columns);
    if (t.one_image()) {
#pragma omp parallel for schedule(static) if (parallel)
      for (index_t f = 0; f < filters; ++f) fill_bias(t, f);
      parallel_gemm(filters, t.cols, K, A, cols,
                    out + t.n_begin * filters * P + t.oh_begin * g.out_w, P, true, ws.gemm);
    } else {
      ws.product.resize({filters, plan.max_ld});
      parallel_gemm(filters, t.cols, K, A, cols, ws.product.data(), t.ld, false, ws.gemm);
#pragma omp parallel for schedule(static) if (parallel)
      for (index_t f = 0; f < filters; ++f) scatter(ws.product.data(), t, f);
    }
  }
}

// images [batch, C, H, W] = col2im(a^T * b) + bias [C] for a [filters, patch] and
// b [batch, filters, P] (bias may be null). Conv2d's input gradient;
// ConvTranspose2d's forward.
template <typename T>
void patch_gemm_transposed(T* images, const T* a, const T* bias, const T* b, index_t batch,
                           index_t filters, const ConvGeometry& g, ConvWorkspace<T>& ws) {
  using namespace detail;
  const index_t K = g.patch_size(), P = g.positions(), plane = g.height * g.width;
  const bool parallel = batch * filters * K * P > kMinParallelWork;
  auto fill_image = [&](index_t n, index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c) {
      T* dst = images + n * g.image_size() + c * plane;
      std::fill(dst, dst + plane, bias ? bias[c] : T(0));
    }
  };
  const ConvPlan plan = make_conv_plan(g, filters, batch);
  const index_t taps = g.kernel_h * g.kernel_w;
  reserve_scratch(ws, plan, g, filters);
  const MatrixRef<T> At{a, K, true};  // a^T [patch, filters]
  // Adds the tile's column matrix (row stride ld) back onto its images' channels [c0, c1).
  auto scatter = [&](const T* columns, index_t ld, const ConvPlan::Tile& t, index_t c0, index_t c1) {
    ConvGeometry sub = g;
    sub.channels = c1 - c0;
    const index_t per_image = (t.oh_end - t.oh_begin) * g.out_w;
    for (index_t n = t.n_begin; n < t.n_end; ++n)
      col2im(images + n * g.image_size() + c0 * plane, columns + c0 * taps * ld + (n - t.n_begin) * per_image,
             ld, sub, t.oh_begin, t.oh_end);
  };
  const bool in_place = g.is_pointwise() && plan.images_per_tile == 1;  // 1x1: no col2im
  if (plan.units() >= kMinTasks) {
    ws.packed.pack(K, filters, At);
    // A unit's images are written by its task only.
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (index_t unit = 0; unit < plan.units(); ++unit) {
      T* scratch = ws.tiles().local();
      const index_t first = plan.unit_first_tile(unit);
      const ConvPlan::Tile whole = plan.tile(first, g);
      for (index_t n = whole.n_begin; n < whole.n_end; ++n) fill_image(n, 0, g.channels);
      for (index_t k = 0; k < plan.unit_tiles(); ++k) {
        const ConvPlan::Tile t = plan.tile(first + k, g);
        const MatrixRef<T> B = tile_rows(b, filters, 0, filters, g, t, scratch + K * plan.max_ld);
        if (in_place) {
          gemm(ws.packed, t.cols, B, images + t.n_begin * g.image_size() + t.oh_begin * g.out_w,
               P, true, ws.gemm);
        } else {
          gemm(ws.packed, t.cols, B, scratch, t.ld, false, ws.gemm);
          scatter(scratch, t.ld, t, 0, g.channels);
        }
      }
    }
    return;
  }
  // Few units: one tile at a time, its product by all threads, then col2im in
  // blocks of channels.
  const index_t blocks = std::clamp<index_t>(ceil_div(kMinTasks, plan.tiles), 1, g.channels);
#pragma omp parallel for schedule(static) if (parallel)
  for (index_t n = 0; n < batch; ++n) fill_image(n, 0, g.channels);
  for (index_t k = 0; k < plan.tiles; ++k) {
    const ConvPlan::Tile t = plan.tile(k, g);
    const MatrixRef<T> B = shared_tile_rows(b, filters, g, plan, t, ws);
    if (in_place) {
      parallel_gemm(K, t.cols, filters, At, B,
                    images + t.n_begin * g.image_size() + t.oh_begin * g.out_w, P, true, ws.gemm);
      continue;
    }
    ws.columns.resize({K, plan.max_ld});
    ws.columns_images = nullptr;  // no longer the tiles of any images
    parallel_gemm(K, t.cols, filters, At, B, ws.columns.data(), t.ld, false, ws.gemm);
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (index_t blk = 0; blk < blocks; ++blk) {
      index_t c0, c1;
      block_range(blk, blocks, g.channels, c0, c1);
      scatter(ws.columns.data(), t.ld, t, c0, c1);
    }
  }
}

// da [filters, patch] += sum over the batch of b_n [filters, P] * im2col(images_n)^T.
// The weight gradient of Conv2d (b = dy, images = x) and of ConvTranspose2d
// (b = x, images = dy). reuse_columns as for patch_gemm.
template <typename T>
void patch_weight_grad(T* da, const T* b, const T* images, index_t batch, index_t filters,
                       const ConvGeometry& g, ConvWorkspace<T>& ws, bool reuse_columns = false) {
  using namespace detail;
  if (!reuse_columns) ws.columns_images = nullptr;  // whatever it holds is stale
  const index_t K = g.patch_size(), size = filters * K, P = g.positions();
  const bool parallel = batch * filters * K * P > kMinParallelWork;
  const ConvPlan plan = make_conv_plan(g, filters, batch);
  reserve_scratch(ws, plan, g, filters);
  const index_t chunks = plan.chunks;
  if (plan.tiles >= kMinTasks && chunks >= kMinTasks / 2) {
    // Chunks of tiles, each summed from zero into its partial (or into da
    // directly when there is one chunk), then added in chunk order.
    if (chunks > 1) ws.weight_partials.resize({chunks, size});
    T* partials = ws.weight_partials.data();
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (index_t chunk = 0; chunk < chunks; ++chunk) {
      index_t t0, t1;
      block_range(chunk, chunks, plan.tiles, t0, t1);
      T* dA = chunks > 1 ? partials + chunk * size : da;
      T* scratch = ws.tiles().local();
      for (index_t k = t0; k < t1; ++k) {
        const ConvPlan::Tile t = plan.tile(k, g);
        MatrixRef<T> cols = tile_columns(images, g, t, scratch);
        cols.transposed = true;
        const MatrixRef<T> B = tile_rows(b, filters, 0, filters, g, t, scratch + K * plan.max_ld);
        gemm(filters, K, t.cols, B, cols, dA, K, chunks == 1 || k > t0, ws.gemm);
      }
      if (t1 == t0 && chunks > 1) std::fill(dA, dA + size, T(0));
    }
    if (chunks > 1) add_partials(da, partials, chunks, size);
    return;
  }
  // Few tiles (or a weight too large for partial sums): one tile at a time,
  // accumulated into da by all threads.
  for (index_t k = 0; k < plan.tiles; ++k) {
    const ConvPlan::Tile t = plan.tile(k, g);
    MatrixRef<T> cols = serial_tile_columns(images, g, plan, k, t, ws, reuse_columns);
    cols.transposed = true;
    const MatrixRef<T> B = shared_tile_rows(b, filters, g, plan, t, ws);
    parallel_gemm(filters, K, t.cols, B, cols, da, K, true, ws.gemm);
  }
}

}  // namespace cae::kernels
