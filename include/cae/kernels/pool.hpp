// 2-D max and average pooling kernels with PyTorch's exact semantics
// (ATen's CPU kernels MaxPoolKernel.cpp / AvgPoolKernel.cpp): the same output
// sizes, the same windows, the same max chosen on ties, the same divisors.
//
// Every array is NCHW with N*C folded into `planes`: x and dx are
// [planes, in_h, in_w], y, dy and argmax are [planes, out_h, out_w]. argmax
// holds, as PyTorch's `indices`, the flat position ih * in_w + iw of each
// window's max within its plane. Planes are independent and each is handled by
// one thread, so results do not depend on the thread count.
//
// For large stride-1 max pools see running_max.hpp, which gives identical
// results at a cost that does not grow with the window.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cae/error.hpp"
#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

// Position of a max within its plane (the plane must have fewer than 2^31 elements).
using pool_index_t = std::int32_t;

struct Pool2dGeometry {
  index_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  index_t kernel_h = 1, kernel_w = 1;
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;
};

// PyTorch's pooling_output_shape for one axis: floor (or ceil) of
// (in + 2 pad - dilation (kernel - 1) - 1) / stride + 1, where in ceil mode the
// last window must still start inside the input or its left padding.
// May be < 1 when the input is too small; the caller reports that.
inline index_t pool_output_size(index_t in, index_t kernel, index_t stride, index_t pad,
                                index_t dilation, bool ceil_mode) {
  const index_t num = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Division rounding toward minus infinity (ATen's div_rtn): num may be negative.
  index_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// ---------------------------------------------------------------------------
// Max pooling, direct: each window is scanned in row-major order and the first
// strictly greater value wins, so ties go to the first maximum, as in PyTorch.
// A window that holds no input element (possible only with dilation) gives
// -inf and argmax -1, which backward skips. Unlike PyTorch, a NaN does not
// win the window: it compares as usual (false), so it is skipped unless first.

namespace pool_detail {

// Output columns [lo, hi) whose whole window row lies inside the input:
// there the window needs no clipping and a row of outputs is one vector loop.
inline void interior_columns(const Pool2dGeometry& g, index_t& lo, index_t& hi) {
  lo = std::min(g.out_w, (g.pad_w + g.stride_w - 1) / g.stride_w);
  const index_t reach = g.in_w + g.pad_w - (g.kernel_w - 1) * g.dilation_w - 1;  // last start + pad
  hi = reach < 0 ? 0 : std::min(g.out_w, reach / g.stride_w + 1);
  hi = std::max(hi, lo);
}

// The direct scan of one window (output oh, ow of plane xp).
template <typename T>
void max_window(T& y, pool_index_t& argmax, const T* xp, const Pool2dGeometry& g, index_t h0,
                index_t h1, index_t ow) {
  index_t w0 = ow * g.stride_w - g.pad_w;
  const index_t w1 = std::min(w0 + (g.kernel_w - 1) * g.dilation_w + 1, g.in_w);
  while (w0 < 0) w0 += g.dilation_w;
  if (h0 >= h1 || w0 >= w1) {
    y = -std::numeric_limits<T>::infinity();
    argmax = -1;
    return;
  }
  T best = xp[h0 * g.in_w + w0];
  index_t best_at = h0 * g.in_w + w0;
  for (index_t ih = h0; ih < h1; ih += g.dilation_h) {
    const T* row = xp + ih * g.in_w;
    for (index_t iw = w0; iw < w1; iw += g.dilation_w) {
      // Ties keep the first maximum. Masks rather than a branch, which
      // random data would mispredict half the time.
      const index_t take = -static_cast<index_t>(row[iw] > best);
      best_at ^= (best_at ^ (ih * g.in_w + iw)) & take;
      best = row[iw] > best ? row[iw] : best;
    }
  }
  y = best;
  argmax = static_cast<pool_index_t>(best_at);
}

// Outputs [lo, hi) of one output row whose KH x KW windows (starting at input
// row h0) lie wholly inside the input: every tap in registers, the outputs a
// vector loop. Same visiting order and tie rule as the direct scan.
template <int KH, int KW, typename T>
void max_row_fixed(T* yr, pool_index_t* ir, const T* xp, const Pool2dGeometry& g, index_t h0,
                   index_t lo, index_t hi) {
  const index_t sw = g.stride_w;
  index_t offsets[KH * KW];  // tap positions relative to the window's output column
  for (int i = 0; i < KH; ++i)
    for (int j = 0; j < KW; ++j)
      offsets[i * KW + j] = (h0 + i * g.dilation_h) * g.in_w + j * g.dilation_w - g.pad_w;
#pragma omp simd
  for (index_t ow = lo; ow < hi; ++ow) {
    // 32-bit positions: the whole vector loop runs at one element width.
    const pool_index_t o = static_cast<pool_index_t>(ow * sw);
    const T* xo = xp + ow * sw;
    T best = xo[offsets[0]];
    pool_index_t at = static_cast<pool_index_t>(offsets[0]) + o;
    for (int k = 1; k < KH * KW; ++k) {
      const T v = xo[offsets[k]];
      const bool greater = v > best;
      at = greater ? static_cast<pool_index_t>(offsets[k]) + o : at;
      best = greater ? v : best;
    }
    yr[ow] = best;
    ir[ow] = at;
  }
}

}  // namespace pool_detail

// x [planes, in_h, in_w] -> y, argmax [planes, out_h, out_w]
// Outputs whose window row lies inside the input are computed a row at a
// time, as vector loops over the outputs: 2x2 and 3x3 windows with every tap
// in registers; other windows tap by tap in row-major order, each tap compared
// against the whole row of running maxima. Either way every output sees its
// elements in the direct scan's order, with the same first-max tie-breaking.
// The edge columns use the direct scan.
template <typename T>
void max_pool2d_forward(T* y, pool_index_t* argmax, const T* x, index_t planes,
                        const Pool2dGeometry& g) {
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  index_t lo, hi;
  pool_detail::interior_columns(g, lo, hi);
  auto pool_plane = [&](index_t p) {
    const T* xp = x + p * in_plane;
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      index_t h0 = oh * g.stride_h - g.pad_h;
      const index_t h1 = std::min(h0 + (g.kernel_h - 1) * g.dilation_h + 1, g.in_h);
      while (h0 < 0) h0 += g.dilation_h;
      T* yr = y + p * out_plane + oh * g.out_w;
      pool_index_t* ir = argmax + p * out_plane + oh * g.out_w;
      for (index_t ow = 0; ow < lo; ++ow) pool_detail::max_window(yr[ow], ir[ow], xp, g, h0, h1, ow);
      for (index_t ow = hi; ow < g.out_w; ++ow) pool_detail::max_window(yr[ow], ir[ow], xp, g, h0, h1, ow);
      if (lo >= hi) continue;
      if (h0 >= h1) {
        for (index_t ow = lo; ow < hi; ++ow) pool_detail::max_window(yr[ow], ir[ow], xp, g, h0, h1, ow);
        continue;
      }
      const bool full_rows = oh * g.stride_h - g.pad_h == h0 && h1 == h0 + (g.kernel_h - 1) * g.dilation_h + 1;
      if (full_rows && g.kernel_h == 2 && g.kernel_w == 2) {
        pool_detail::max_row_fixed<2, 2>(yr, ir, xp, g, h0, lo, hi);
        continue;
      }
      if (full_rows && g.kernel_h == 3 && g.kernel_w == 3) {
        pool_detail::max_row_fixed<3, 3>(yr, ir, xp, g, h0, lo, hi);
        continue;
      }
      // Other windows: one vector pass over the row per tap, in row-major order.
      const index_t sw = g.stride_w;
      {
        // The window's first element starts the running max.
        const index_t first = h0 * g.in_w - g.pad_w;
        const T* r = xp + first;
#pragma omp simd
        for (index_t ow = lo; ow < hi; ++ow) {
          yr[ow] = r[ow * sw];
          ir[ow] = static_cast<pool_index_t>(first + ow * sw);
        }
      }
      for (index_t ih = h0; ih < h1; ih += g.dilation_h) {
        for (index_t j = ih == h0 ? 1 : 0; j < g.kernel_w; ++j) {
          const index_t tap = ih * g.in_w + j * g.dilation_w - g.pad_w;
          const T* r = xp + tap;
#pragma omp simd
          for (index_t ow = lo; ow < hi; ++ow) {
            const T v = r[ow * sw];
            const bool greater = v > yr[ow];
            ir[ow] = greater ? static_cast<pool_index_t>(tap + ow * sw) : ir[ow];
            yr[ow] = greater ? v : yr[ow];
          }
        }
      }
    }
  };
  if (planes * out_plane * g.kernel_h * g.kernel_w > kElementwiseGrain) {
#pragma omp parallel for schedule(static)
    for (index_t p = 0; p < planes; ++p) pool_plane(p);
  } else {
    for (index_t p = 0; p < planes; ++p) pool_plane(p);
  }
}

// dy, argmax [planes, out_h, out_w] -> dx [planes, in_h, in_w] (overwritten).
// Gradients are added in output order, as PyTorch does, so overlapping windows
// sum in the same order.
template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const pool_index_t* argmax, index_t planes,
                         const Pool2dGeometry& g) {
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * (in_plane + out_plane) > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    const T* dyp = dy + p * out_plane;
    const pool_index_t* ip = argmax + p * out_plane;
    for (index_t o = 0; o < out_plane; ++o)
      if (ip[o] >= 0) dxp[ip[o]] += dyp[o];
  }
}

// ---------------------------------------------------------------------------
// Average pooling. A window may reach past the padding in ceil mode; that part
// never counts. The divisor is the window's size within input + padding when
// count_include_pad, else the number of input elements it covers, unless
// divisor_override (> 0) replaces both.

namespace pool_detail {
struct AvgWindow {
  index_t h0, h1, w0, w1;  // the input elements summed: [h0, h1) x [w0, w1)
  index_t divisor;
};
inline AvgWindow avg_window(const Pool2dGeometry& g, index_t oh, index_t ow,
                            bool count_include_pad, index_t divisor_override) {
  index_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  index_t h1 = std::min(h0 + g.kernel_h, g.in_h + g.pad_h);
  index_t w1 = std::min(w0 + g.kernel_w, g.in_w + g.pad_w);
  const index_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<index_t>(h0, 0);
  w0 = std::max<index_t>(w0, 0);
  h1 = std::min(h1, g.in_h);
  w1 = std::min(w1, g.in_w);
  const index_t divisor = divisor_override > 0 ? divisor_override
                          : count_include_pad  ? padded_size
                                               : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}
}  // namespace pool_detail

// x [planes, in_h, in_w] -> y [planes, out_h, out_w]. Dilation must be 1.
template <typename T>
void avg_pool2d_forward(T* y, const T* x, index_t planes, const Pool2dGeometry& g,
                        bool count_include_pad, index_t divisor_override = 0) {
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * out_plane * g.kernel_h * g.kernel_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const auto win = pool_detail::avg_window(g, oh, ow, count_include_pad, divisor_override);
        T sum = 0;
        for (index_t ih = win.h0; ih < win.h1; ++ih)
          for (index_t iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * g.in_w + iw];
        yp[oh * g.out_w + ow] = win.h0 < win.h1 && win.w0 < win.w1 ? sum / T(win.divisor) : T(0);
      }
    }
  }
}

// dy [planes, out_h, out_w] -> dx [planes, in_h, in_w] (overwritten): each
// window spreads dy / divisor over the input elements it summed.
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, index_t planes, const Pool2dGeometry& g,
                         bool count_include_pad, index_t divisor_override = 0) {
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for schedule(static) if (planes * out_plane * g.kernel_h * g.kernel_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    const T* dyp = dy + p * out_plane;
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const auto win = pool_detail::avg_window(g, oh, ow, count_include_pad, divisor_override);
        if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
        const T share = dyp[oh * g.out_w + ow] / T(win.divisor);
        for (index_t ih = win.h0; ih < win.h1; ++ih)
          for (index_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.in_w + iw] += share;
      }
    }
  }
}

}  // namespace cae::kernels
