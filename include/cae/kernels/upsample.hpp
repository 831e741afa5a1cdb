// 2-D nearest and bilinear resampling kernels with PyTorch's exact coordinate
// rules (ATen's UpSample.h and UpSampleKernel.cpp, torch 1.13).
//
// Every array is NCHW with N*C folded into `planes`: x and dx are
// [planes, in_h, in_w], y and dy are [planes, out_h, out_w].
//
// Which ratio maps an output coordinate back to the input matters:
//   - size given (scale_h/scale_w = 0):     in / out
//   - scale_factor given (> 0):             1 / scale_factor, as F.interpolate
//     passes the user's factor through when recompute_scale_factor is None
//     (nn.Upsample's default). E.g. 5 * 1.5 -> 7 outputs mapped with 1/1.5,
//     not 5/7.
//   - bilinear with align_corners:          (in - 1) / (out - 1), factor ignored
// Nearest (PyTorch's legacy 'nearest', not 'nearest-exact'):
//   src = min(floor(dst * ratio), in - 1), computed in float as PyTorch does.
// Bilinear without align_corners: src = max(ratio (dst + 0.5) - 0.5, 0);
// with: src = ratio * dst. Then i0 = floor(src), i1 = min(i0 + 1, in - 1),
// weights (1 - frac, frac); an axis whose size does not change is copied.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

struct Upsample2dGeometry {
  index_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  // The scale factors the user gave (out / in per axis), or 0 when the output
  // size was given.
  double scale_h = 0, scale_w = 0;
};

// ---------------------------------------------------------------------------
// Nearest

// PyTorch's nearest_idx: the input index that output index `dst` copies.
inline index_t nearest_source_index(index_t dst, index_t in, index_t out, double scale) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float ratio = scale > 0 ? static_cast<float>(1.0 / scale)
                                : static_cast<float>(in) / static_cast<float>(out);
  return std::min(static_cast<index_t>(std::floor(static_cast<float>(dst) * ratio)), in - 1);
}

namespace upsample_detail {

// Tables live per thread and are reused: steady-state calls do not allocate.
template <typename Tap>
std::vector<Tap>& thread_table(int which) {
  thread_local std::vector<Tap> tables[2];
  return tables[which];
}

inline const index_t* nearest_table(int which, index_t in, index_t out, double scale) {
  auto& t = thread_table<index_t>(which);
  t.resize(static_cast<std::size_t>(out));
  for (index_t o = 0; o < out; ++o) t[o] = nearest_source_index(o, in, out, scale);
  return t.data();
}

}  // namespace upsample_detail

// x [planes, in_h, in_w] -> y [planes, out_h, out_w]
template <typename T>
void upsample_nearest2d_forward(T* y, const T* x, index_t planes, const Upsample2dGeometry& g) {
  const index_t* src_h = upsample_detail::nearest_table(0, g.in_h, g.out_h, g.scale_h);
  const index_t* src_w = upsample_detail::nearest_table(1, g.in_w, g.out_w, g.scale_w);
#pragma omp parallel for collapse(2) schedule(static) if (planes * g.out_h * g.out_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const T* row = x + (p * g.in_h + src_h[oh]) * g.in_w;
      T* out = y + (p * g.out_h + oh) * g.out_w;
      for (index_t ow = 0; ow < g.out_w; ++ow) out[ow] = row[src_w[ow]];
    }
  }
}

// dy [planes, out_h, out_w] -> dx [planes, in_h, in_w] (overwritten): each
// input element sums the gradients of the outputs that copied it, in output order.
template <typename T>
void upsample_nearest2d_backward(T* dx, const T* dy, index_t planes, const Upsample2dGeometry& g) {
  const index_t* src_h = upsample_detail::nearest_table(0, g.in_h, g.out_h, g.scale_h);
  const index_t* src_w = upsample_detail::nearest_table(1, g.in_w, g.out_w, g.scale_w);
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * out_plane > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      T* row = dxp + src_h[oh] * g.in_w;
      const T* grad = dy + p * out_plane + oh * g.out_w;
      for (index_t ow = 0; ow < g.out_w; ++ow) row[src_w[ow]] += grad[ow];
    }
  }
}

// ---------------------------------------------------------------------------
// Bilinear

// The two input indices an output index reads and their weights.
template <typename T>
struct LinearTap {
  index_t i0, i1;
  T w0, w1;
};

// PyTorch's area_pixel_compute_scale + compute_source_index_and_lambda. The
// ratio is rounded to T, the source coordinate computed in double (ATen's
// accumulate type on the CPU), the weights rounded to T.
template <typename T>
LinearTap<T> linear_source(index_t dst, index_t in, index_t out, bool align_corners,
                           double scale) {
  if (out == in) return {dst, dst, T(1), T(0)};
  T ratio;
  if (align_corners) {
    ratio = out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  } else {
    ratio = scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
  }
  double src;
  if (align_corners) {
    src = static_cast<double>(ratio) * static_cast<double>(dst);
  } else {
    src = static_cast<double>(ratio) * (static_cast<double>(dst) + 0.5) - 0.5;
    if (src < 0) src = 0;
  }
  const index_t i0 = static_cast<index_t>(src);
  const index_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  const T w1 = static_cast<T>(src - static_cast<double>(i0));
  return {i0, i1, T(1) - w1, w1};
}

namespace upsample_detail {
template <typename T>
const LinearTap<T>* linear_table(int which, index_t in, index_t out, bool align_corners,
                                 double scale) {
  auto& t = thread_table<LinearTap<T>>(which);
  t.resize(static_cast<std::size_t>(out));
  for (index_t o = 0; o < out; ++o) t[o] = linear_source<T>(o, in, out, align_corners, scale);
  return t.data();
}
}  // namespace upsample_detail

// x [planes, in_h, in_w] -> y [planes, out_h, out_w]. Interpolates along the
// width, then the height: ((x00 w0 + x01 w1) h0 + (x10 w0 + x11 w1) h1), PyTorch's order.
template <typename T>
void upsample_bilinear2d_forward(T* y, const T* x, index_t planes, const Upsample2dGeometry& g,
                                 bool align_corners) {
  const auto* th = upsample_detail::linear_table<T>(0, g.in_h, g.out_h, align_corners, g.scale_h);
  const auto* tw = upsample_detail::linear_table<T>(1, g.in_w, g.out_w, align_corners, g.scale_w);
#pragma omp parallel for collapse(2) schedule(static) if (planes * g.out_h * g.out_w > kElementwiseGrain / 4)
  for (index_t p = 0; p < planes; ++p) {
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const T* r0 = x + (p * g.in_h + th[oh].i0) * g.in_w;
      const T* r1 = x + (p * g.in_h + th[oh].i1) * g.in_w;
      const T h0 = th[oh].w0, h1 = th[oh].w1;
      T* out = y + (p * g.out_h + oh) * g.out_w;
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const LinearTap<T>& t = tw[ow];
        out[ow] = (r0[t.i0] * t.w0 + r0[t.i1] * t.w1) * h0 + (r1[t.i0] * t.w0 + r1[t.i1] * t.w1) * h1;
      }
    }
  }
}

// dy [planes, out_h, out_w] -> dx [planes, in_h, in_w] (overwritten): each
// output's gradient goes to its four inputs with the forward's weights, in
// output order, as PyTorch's cpu_upsample_linear_backward.
template <typename T>
void upsample_bilinear2d_backward(T* dx, const T* dy, index_t planes, const Upsample2dGeometry& g,
                                  bool align_corners) {
  const auto* th = upsample_detail::linear_table<T>(0, g.in_h, g.out_h, align_corners, g.scale_h);
  const auto* tw = upsample_detail::linear_table<T>(1, g.in_w, g.out_w, align_corners, g.scale_w);
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * out_plane > kElementwiseGrain / 4)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      T* r0 = dxp + th[oh].i0 * g.in_w;
      T* r1 = dxp + th[oh].i1 * g.in_w;
      const T h0 = th[oh].w0, h1 = th[oh].w1;
      const T* grad = dy + p * out_plane + oh * g.out_w;
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const LinearTap<T>& t = tw[ow];
        const T d = grad[ow];
        r0[t.i0] += h0 * t.w0 * d;
        r0[t.i1] += h0 * t.w1 * d;
        r1[t.i0] += h1 * t.w0 * d;
        r1[t.i1] += h1 * t.w1 * d;
      }
    }
  }
}

// Bilinear resize of `planes` images [in_h, in_w] -> [out_h, out_w], as
// F.interpolate(x, size=(out_h, out_w), mode='bilinear', align_corners=...):
// for single images in a data pipeline (e.g. 32x32 -> 320x320, 28x28 -> 224x224).
template <typename T>
void bilinear_resize(T* out, const T* in, index_t planes, index_t in_h, index_t in_w,
                     index_t out_h, index_t out_w, bool align_corners = false) {
  Upsample2dGeometry g;
  g.in_h = in_h;
  g.in_w = in_w;
  g.out_h = out_h;
  g.out_w = out_w;
  upsample_bilinear2d_forward(out, in, planes, g, align_corners);
}

}  // namespace cae::kernels
