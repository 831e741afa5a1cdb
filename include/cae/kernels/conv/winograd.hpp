// Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions at stride 1
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//
// Each 2x2 block ("tile") of the output is computed from the 4x4 block of
// input under it as
//   y = A^T [ sum_c (G g_c G^T) .* (B^T d_c B) ] A
// where g_c is a filter's 3x3 kernel for channel c, d_c the 4x4 input block and
// .* the element-wise product. Over all filters, channels and tiles that is 16
// independent GEMMs (one per element xi of the 4x4 transformed blocks),
//   M[xi] [F, tiles] = U[xi] [F, C] * V[xi] [C, tiles],
// doing 16 multiply-adds per (filter, channel, tile) where im2col + GEMM does
// 36: 2.25 times fewer, for the price of transforming inputs and outputs
// (additions only). It pays when both channel counts are large enough for the
// GEMMs to dominate, e.g. an autoencoder's Conv2d(128, 64, 3, padding=1) at
// 28x28. The transforms' coefficients are 0, +-1 and +-1/2, so float results
// stay within a few rounding errors of the direct sum.
//
// The input gradient of such a convolution is itself one (dy convolved with
// the kernels rotated by 180 degrees, channels and filters swapped, padding
// 2 - p), and the weight gradient is G^T [ sum_tiles (A dy A^T) .* (B^T d B) ] G:
// 16 more GEMMs over the tiles. Tiles are processed in groups of whole images;
// groups are independent tasks, and the weight gradient is summed per fixed
// chunk of groups, in chunk order, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstring>

#include "cae/kernels/im2col.hpp"
#include "cae/kernels/packed_gemm.hpp"
#include "cae/kernels/workspace.hpp"

namespace cae::kernels {

namespace winograd {

// Both channel counts at least this (measured: at 16 the transforms cost about
// what the GEMMs save; at 32 and above Winograd wins by 1.3-1.6x).
constexpr index_t kMinChannels = 32;
constexpr index_t kTilesPerGroup = 256;  // aim of a group's tile count (GEMM columns)
constexpr index_t kMinGroups = 8;        // fewer groups: too little parallel work
constexpr index_t kMaxChunks = 8;

// How the tiles of a batch are grouped.
struct Tiling {
  index_t tiles_h, tiles_w, per_image, images_per_group, groups;
  Tiling(const ConvGeometry& g, index_t batch) {
    tiles_h = (g.out_h + 1) / 2;
    tiles_w = (g.out_w + 1) / 2;
    per_image = tiles_h * tiles_w;
    images_per_group =
        std::clamp<index_t>((kTilesPerGroup + per_image / 2) / std::max<index_t>(per_image, 1), 1,
                            std::max<index_t>(batch, 1));
    groups = (batch + images_per_group - 1) / images_per_group;
  }
  index_t max_tiles() const { return images_per_group * per_image; }
};

// g [3][3] -> u [4][4] = G g G^T, u[xi] written at u + xi * stride.
template <typename T>
inline void transform_kernel(T* u, index_t stride, const T* g, bool rotate) {
  T k[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) k[i][j] = rotate ? g[(2 - i) * 3 + (2 - j)] : g[i * 3 + j];
  T t[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    t[0][j] = k[0][j];
    t[1][j] = T(0.5) * (k[0][j] + k[1][j] + k[2][j]);
    t[2][j] = T(0.5) * (k[0][j] - k[1][j] + k[2][j]);
    t[3][j] = k[2][j];
  }
  for (int i = 0; i < 4; ++i) {  // (G g) G^T
    u[(i * 4 + 0) * stride] = t[i][0];
    u[(i * 4 + 1) * stride] = T(0.5) * (t[i][0] + t[i][1] + t[i][2]);
    u[(i * 4 + 2) * stride] = T(0.5) * (t[i][0] - t[i][1] + t[i][2]);
    u[(i * 4 + 3) * stride] = t[i][2];
  }
}

// d [4][4] (row stride ld) -> v [4][4] = B^T d B, v[xi] written at v + xi * stride.
template <typename T>
inline void transform_input(T* v, index_t stride, const T* d, index_t ld) {
  T t[4][4];  // B^T d
  for (int j = 0; j < 4; ++j) {
    const T d0 = d[j], d1 = d[ld + j], d2 = d[2 * ld + j], d3 = d[3 * ld + j];
    t[0][j] = d0 - d2;
    t[1][j] = d1 + d2;
    t[2][j] = d2 - d1;
    t[3][j] = d1 - d3;
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B
    v[(i * 4 + 0) * stride] = t[i][0] - t[i][2];
    v[(i * 4 + 1) * stride] = t[i][1] + t[i][2];
    v[(i * 4 + 2) * stride] = t[i][2] - t[i][1];
    v[(i * 4 + 3) * stride] = t[i][1] - t[i][3];
  }
}

// m [4][4] (m[xi] at m + xi * stride) -> y [2][2] = A^T m A
template <typename T>
inline void transform_output(T y[2][2], const T* m, index_t stride) {
  T s[2][4];  // A^T m
  for (int j = 0; j < 4; ++j) {
    const T m0 = m[j * stride], m1 = m[(4 + j) * stride], m2 = m[(8 + j) * stride],
            m3 = m[(12 + j) * stride];
    s[0][j] = m0 + m1 + m2;
    s[1][j] = m1 - m2 - m3;
  }
  for (int i = 0; i < 2; ++i) {
    y[i][0] = s[i][0] + s[i][1] + s[i][2];
    y[i][1] = s[i][1] - s[i][2] - s[i][3];
  }
}

// dy [2][2] -> e [4][4] = A dy A^T, e[xi] written at e + xi * stride.
template <typename T>
inline void transform_output_grad(T* e, index_t stride, const T dy[2][2]) {
  T t[4][2];  // A dy
  for (int j = 0; j < 2; ++j) {
    t[0][j] = dy[0][j];
    t[1][j] = dy[0][j] + dy[1][j];
    t[2][j] = dy[0][j] - dy[1][j];
    t[3][j] = -dy[1][j];
  }
  for (int i = 0; i < 4; ++i) {
    e[(i * 4 + 0) * stride] = t[i][0];
    e[(i * 4 + 1) * stride] = t[i][0] + t[i][1];
    e[(i * 4 + 2) * stride] = t[i][0] - t[i][1];
    e[(i * 4 + 3) * stride] = -t[i][1];
  }
}

// m [4][4] (m[xi] at m + xi * stride) -> dg [3][3] += G^T m G
template <typename T>
inline void transform_kernel_grad(T* dg, const T* m, index_t stride) {
  T t[3][4];  // G^T m
  for (int j = 0; j < 4; ++j) {
    const T m0 = m[j * stride], m1 = m[(4 + j) * stride], m2 = m[(8 + j) * stride],
            m3 = m[(12 + j) * stride];
    t[0][j] = m0 + T(0.5) * (m1 + m2);
    t[1][j] = T(0.5) * (m1 - m2);
    t[2][j] = T(0.5) * (m1 + m2) + m3;
  }
  for (int i = 0; i < 3; ++i) {
    dg[i * 3 + 0] += t[i][0] + T(0.5) * (t[i][1] + t[i][2]);
    dg[i * 3 + 1] += T(0.5) * (t[i][1] - t[i][2]);
    dg[i * 3 + 2] += T(0.5) * (t[i][1] + t[i][2]) + t[i][3];
  }
}

// Strides of a [16][rows][tiles] scratch: rows `ld` apart, planes `plane` apart,
// neither a multiple of 1 KB (see padded_stride: 16 planes 4 KB apart would
// share one L1 cache set).
struct PlaneLayout {
  index_t ld, plane;
  PlaneLayout(index_t rows, index_t tiles) : ld(padded_stride(tiles)), plane(padded_stride(rows * ld)) {}
  index_t size() const { return 16 * plane; }
};

// v [16][C][tiles] (layout `lv`): the transformed 4x4 input blocks of images
// [n0, n1) of images [N, C, H, W], tile t = (n - n0) * per_image + ty * tiles_w + tx.
// `rows` is scratch for 4 zero-padded input rows of 2 * tiles_w + 2 values.
template <typename T>
void transform_inputs(T* v, const PlaneLayout& lv, const T* images, index_t n0, index_t n1,
                      const ConvGeometry& g, const Tiling& tiling, T* rows) {
  const index_t width = 2 * tiling.tiles_w + 2, plane = g.height * g.width;
  const index_t ld = lv.ld, stride = lv.plane;  // between the 16 planes of v
  for (index_t n = n0; n < n1; ++n)
    for (index_t c = 0; c < g.channels; ++c) {
      const T* src = images + n * g.image_size() + c * plane;
      T* dst = v + c * ld + (n - n0) * tiling.per_image;
      for (index_t ty = 0; ty < tiling.tiles_h; ++ty) {
        // Rows 2ty - pad .. 2ty - pad + 3, with the padding as zeros.
        for (index_t r = 0; r < 4; ++r) {
          T* row = rows + r * width;
          const index_t ih = 2 * ty - g.pad_h + r;
          std::fill(row, row + width, T(0));
          if (ih < 0 || ih >= g.height) continue;
          const index_t lo = std::max<index_t>(0, g.pad_w), hi = std::min(width, g.width + g.pad_w);
          if (hi > lo) std::memcpy(row + lo, src + ih * g.width + lo - g.pad_w, sizeof(T) * (hi - lo));
        }
        for (index_t tx = 0; tx < tiling.tiles_w; ++tx)
          transform_input(dst + ty * tiling.tiles_w + tx, stride, rows + 2 * tx, width);
      }
    }
}

}  // namespace winograd

// Scratch of the Winograd path, reused across batches.
template <typename T>
struct WinogradWorkspace {
  Tensor<T> kernels;               // [16][rows][cols]: transformed 3x3 kernels
  PackedOperand<T> packed[16];     // the same, packed for the GEMMs
  ScratchHandle scratch;           // per thread: transformed inputs, products, rows
  GemmScratch<T> gemm;
  Tensor<T> partials;              // [chunks][16][F][C]: weight-gradient chunk sums

  void share(const std::shared_ptr<Scratch>& s) {
    scratch.share(s);
    gemm.share(s);
  }
  ScratchBuffer<T> tiles() const { return {&*scratch, Scratch::kWinogradTiles}; }
};

// Whether the Winograd kernels can compute a convolution at all: 3x3, stride
// 1, no dilation, padding up to 2 (the input gradient pads by 2 - p).
inline bool winograd_supports(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.pad_h <= 2 && g.pad_w <= 2 &&
         g.out_h >= 2 && g.out_w >= 2;
}

// Whether Winograd is the faster choice (see the top of the file);
// select_conv_algorithm (conv/select.hpp) asks this.
inline bool winograd_applies(const ConvGeometry& g, index_t filters, index_t batch) {
  using namespace winograd;
  return winograd_supports(g) && g.channels >= kMinChannels && filters >= kMinChannels &&
         Tiling(g, batch).groups >= kMinGroups;
}

namespace winograd {

// out [N, F, out_h, out_w] = the 3x3 convolution (stride 1, g's padding) of
// images [N, C, H, W] with the transformed kernels ws.kernels [16][F][C], plus
// bias [F] (may be null).
template <typename T>
void convolve(T* out, const T* bias, const T* images, index_t batch, index_t filters,
              const ConvGeometry& g, WinogradWorkspace<T>& ws) {
  const Tiling tiling(g, batch);
  const index_t C = g.channels, F = filters, tiles = tiling.max_tiles();
  const index_t row_scratch = 4 * (2 * tiling.tiles_w + 2);
  for (index_t xi = 0; xi < 16; ++xi) ws.packed[xi].pack(F, C, {ws.kernels.data() + xi * F * C, C});
  ws.tiles().reserve(PlaneLayout(C, tiles).size() + PlaneLayout(F, tiles).size() + row_scratch);
  ws.gemm.reserve();
  const index_t P = g.positions();
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t group = 0; group < tiling.groups; ++group) {
    const index_t n0 = group * tiling.images_per_group;
    const index_t n1 = std::min(batch, n0 + tiling.images_per_group);
    const index_t t = (n1 - n0) * tiling.per_image;  // this group's tiles
    const PlaneLayout lv(C, t), lm(F, t);
    T* v = ws.tiles().local();  // [16][C][t]
    T* m = v + lv.size();       // [16][F][t]
    T* rows = m + lm.size();
    transform_inputs(v, lv, images, n0, n1, g, tiling, rows);
    for (index_t xi = 0; xi < 16; ++xi)
      gemm(ws.packed[xi], t, MatrixRef<T>{v + xi * lv.plane, lv.ld}, m + xi * lm.plane, lm.ld,
           false, ws.gemm);
    for (index_t n = n0; n < n1; ++n)
      for (index_t f = 0; f < F; ++f) {
        T* y = out + (n * F + f) * P;
        const T b = bias ? bias[f] : T(0);
        const T* mf = m + f * lm.ld + (n - n0) * tiling.per_image;
        for (index_t ty = 0; ty < tiling.tiles_h; ++ty)
          for (index_t tx = 0; tx < tiling.tiles_w; ++tx) {
            T block[2][2];
            transform_output(block, mf + ty * tiling.tiles_w + tx, lm.plane);
            for (index_t i = 0; i < 2 && 2 * ty + i < g.out_h; ++i)
              for (index_t j = 0; j < 2 && 2 * tx + j < g.out_w; ++j)
                y[(2 * ty + i) * g.out_w + 2 * tx + j] = block[i][j] + b;
          }
      }
  }
}

}  // namespace winograd

// y [N, F, out_h, out_w] = conv3x3(x [N, C, H, W], weight [F, C, 3, 3]) + bias [F]
// (bias may be null), when winograd_applies(g, F, N).
template <typename T>
void winograd_forward(T* y, const T* x, const T* weight, const T* bias, index_t batch,
                      index_t filters, const ConvGeometry& g, WinogradWorkspace<T>& ws) {
  const index_t C = g.channels, F = filters;
  ws.kernels.resize({16, F, C});
  for (index_t f = 0; f < F; ++f)
    for (index_t c = 0; c < C; ++c)
      winograd::transform_kernel(ws.kernels.data() + f * C + c, F * C, weight + (f * C + c) * 9, false);
  winograd::convolve(y, bias, x, batch, F, g, ws);
}

// dx [N, C, H, W] = the input gradient of winograd_forward for dy [N, F, out_h, out_w]:
// the convolution of dy with the kernels rotated by 180 degrees, channels and
// filters swapped, at padding 2 - pad.
template <typename T>
void winograd_input_grad(T* dx, const T* dy, const T* weight, index_t batch, index_t filters,
                         const ConvGeometry& g, WinogradWorkspace<T>& ws) {
  const index_t C = g.channels, F = filters;
  ws.kernels.resize({16, C, F});
  for (index_t f = 0; f < F; ++f)
    for (index_t c = 0; c < C; ++c)
      winograd::transform_kernel(ws.kernels.data() + c * F + f, C * F, weight + (f * C + c) * 9, true);
  ConvGeometry back = g;
  back.channels = F;
  back.height = g.out_h;
  back.width = g.out_w;
  back.out_h = g.height;
  back.out_w = g.width;
  back.pad_h = 2 - g.pad_h;
  back.pad_w = 2 - g.pad_w;
  winograd::convolve(dx, static_cast<const T*>(nullptr), dy, batch, C, back, ws);
}

// dweight [F, C, 3, 3] += the weight gradient of winograd_forward for
// dy [N, F, out_h, out_w] and the forward's x [N, C, H, W].
template <typename T>
void winograd_weight_grad(T* dweight, const T* dy, const T* x, index_t batch, index_t filters,
                          const ConvGeometry& g, WinogradWorkspace<T>& ws) {
  using namespace winograd;
  const Tiling tiling(g, batch);
  const index_t C = g.channels, F = filters, tiles = tiling.max_tiles(), P = g.positions();
  const index_t row_scratch = 4 * (2 * tiling.tiles_w + 2), size = 16 * F * C;
  const index_t chunks = std::min(kMaxChunks, tiling.groups);
  ws.tiles().reserve(PlaneLayout(C, tiles).size() + PlaneLayout(F, tiles).size() + row_scratch);
  ws.gemm.reserve();
  ws.partials.resize({chunks, size});
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t chunk = 0; chunk < chunks; ++chunk) {
    T* sum = ws.partials.data() + chunk * size;  // [16][F][C]
    const index_t g0 = chunk * tiling.groups / chunks, g1 = (chunk + 1) * tiling.groups / chunks;
    for (index_t group = g0; group < g1; ++group) {
      const index_t n0 = group * tiling.images_per_group;
      const index_t n1 = std::min(batch, n0 + tiling.images_per_group);
      const index_t t = (n1 - n0) * tiling.per_image;
      const PlaneLayout lv(C, t), le(F, t);
      T* v = ws.tiles().local();  // [16][C][t]
      T* e = v + lv.size();       // [16][F][t]: transformed output gradients
      T* rows = e + le.size();
      transform_inputs(v, lv, x, n0, n1, g, tiling, rows);
      for (index_t n = n0; n < n1; ++n)
        for (index_t f = 0; f < F; ++f) {
          const T* d = dy + (n * F + f) * P;
          T* ef = e + f * le.ld + (n - n0) * tiling.per_image;
          for (index_t ty = 0; ty < tiling.tiles_h; ++ty)
            for (index_t tx = 0; tx < tiling.tiles_w; ++tx) {
              T block[2][2];
              for (index_t i = 0; i < 2; ++i)
                for (index_t j = 0; j < 2; ++j) {
                  const index_t oh = 2 * ty + i, ow = 2 * tx + j;
                  block[i][j] = oh < g.out_h && ow < g.out_w ? d[oh * g.out_w + ow] : T(0);
                }
              transform_output_grad(ef + ty * tiling.tiles_w + tx, le.plane, block);
            }
        }
      for (index_t xi = 0; xi < 16; ++xi)
        gemm(F, C, t, MatrixRef<T>{e + xi * le.plane, le.ld},
             MatrixRef<T>{v + xi * lv.plane, lv.ld, true}, sum + xi * F * C, C, group > g0, ws.gemm);
    }
  }
  // Chunk sums in chunk order, then back from the transformed domain.
  T* total = ws.partials.data();
#pragma omp parallel for schedule(static)
  for (index_t i = 0; i < size; ++i)
    for (index_t chunk = 1; chunk < chunks; ++chunk) total[i] += total[chunk * size + i];
#pragma omp parallel for schedule(static)
  for (index_t f = 0; f < F; ++f)
    for (index_t c = 0; c < C; ++c)
      transform_kernel_grad(dweight + (f * C + c) * 9, total + f * C + c, F * C);
}

}  // namespace cae::kernels
