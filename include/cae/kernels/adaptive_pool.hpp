// Adaptive 2-D average and max pooling with PyTorch's exact windows (ATen's
// AdaptiveAvgPoolKernel.cpp / AdaptiveMaxPoolKernel.cpp): output row oh of
// out_h covers input rows
//
//   [floor(oh * in_h / out_h), ceil((oh + 1) * in_h / out_h))
//
// and likewise for columns, so windows differ in size by at most one and may
// overlap (or repeat input rows when out_h > in_h). out = 1 is global pooling.
//
// Every array is NCHW with N*C folded into `planes`: x and dx are
// [planes, in_h, in_w], y, dy and argmax are [planes, out_h, out_w]. argmax
// holds, as PyTorch's `indices`, the flat position ih * in_w + iw of each
// window's max within its plane. Each plane is handled by one thread, in a
// fixed order, so results do not depend on the thread count.
#pragma once

#include <limits>

#include "cae/kernels/pool.hpp"
#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

struct AdaptivePool2dGeometry {
  index_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
};

// The first input index of output i's window: floor(i * in / out).
inline index_t adaptive_start(index_t i, index_t in, index_t out) { return (i * in) / out; }
// One past the last: ceil((i + 1) * in / out).
inline index_t adaptive_end(index_t i, index_t in, index_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// x [planes, in_h, in_w] -> y [planes, out_h, out_w]: each output the mean of
// its window, summed row by row and divided by the window's height, then its
// width, in PyTorch's order.
template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, index_t planes, const AdaptivePool2dGeometry& g) {
#pragma omp parallel for schedule(static) if (planes * g.in_h * g.in_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    const T* xp = x + p * g.in_h * g.in_w;
    T* yp = y + p * g.out_h * g.out_w;
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const index_t h0 = adaptive_start(oh, g.in_h, g.out_h), h1 = adaptive_end(oh, g.in_h, g.out_h);
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const index_t w0 = adaptive_start(ow, g.in_w, g.out_w), w1 = adaptive_end(ow, g.in_w, g.out_w);
        T sum = 0;
        for (index_t ih = h0; ih < h1; ++ih)
          for (index_t iw = w0; iw < w1; ++iw) sum += xp[ih * g.in_w + iw];
        yp[oh * g.out_w + ow] = sum / T(h1 - h0) / T(w1 - w0);
      }
    }
  }
}
// dy [planes, out_h, out_w] -> dx [planes, in_h, in_w]: dx is overwritten;
// each output's dy / window size is added to every element of its window
// (several windows where they overlap), outputs taken in row-major order.
template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, index_t planes, const AdaptivePool2dGeometry& g) {
#pragma omp parallel for schedule(static) if (planes * g.in_h * g.in_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * g.in_h * g.in_w;
    const T* dyp = dy + p * g.out_h * g.out_w;
    for (index_t i = 0; i < g.in_h * g.in_w; ++i) dxp[i] = T(0);
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const index_t h0 = adaptive_start(oh, g.in_h, g.out_h), h1 = adaptive_end(oh, g.in_h, g.out_h);
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const index_t w0 = adaptive_start(ow, g.in_w, g.out_w), w1 = adaptive_end(ow, g.in_w, g.out_w);
        const T share = dyp[oh * g.out_w + ow] / T(h1 - h0) / T(w1 - w0);
        for (index_t ih = h0; ih < h1; ++ih)
          for (index_t iw = w0; iw < w1; ++iw) dxp[ih * g.in_w + iw] += share;
      }
    }
  }
}

// x [planes, in_h, in_w] -> y, argmax [planes, out_h, out_w]: each window
// scanned in row-major order; a strictly greater value or a NaN takes the
// max, so ties go to the first maximum and a NaN wins its window (the last
// NaN, if several), as in PyTorch. (MaxPool2d's kernel lets NaN lose instead.)
template <typename T>
void adaptive_max_pool2d_forward(T* y, pool_index_t* argmax, const T* x, index_t planes,
                                 const AdaptivePool2dGeometry& g) {
#pragma omp parallel for schedule(static) if (planes * g.in_h * g.in_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    const T* xp = x + p * g.in_h * g.in_w;
    T* yp = y + p * g.out_h * g.out_w;
    pool_index_t* ip = argmax + p * g.out_h * g.out_w;
    for (index_t oh = 0; oh < g.out_h; ++oh) {
      const index_t h0 = adaptive_start(oh, g.in_h, g.out_h), h1 = adaptive_end(oh, g.in_h, g.out_h);
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        const index_t w0 = adaptive_start(ow, g.in_w, g.out_w), w1 = adaptive_end(ow, g.in_w, g.out_w);
        T best = -std::numeric_limits<T>::infinity();
        index_t best_at = h0 * g.in_w + w0;
        for (index_t ih = h0; ih < h1; ++ih)
          for (index_t iw = w0; iw < w1; ++iw) {
            const T v = xp[ih * g.in_w + iw];
            if (v > best || v != v) {
              best = v;
              best_at = ih * g.in_w + iw;
            }
          }
        yp[oh * g.out_w + ow] = best;
        ip[oh * g.out_w + ow] = static_cast<pool_index_t>(best_at);
      }
    }
  }
}
// dy, argmax [planes, out_h, out_w] -> dx [planes, in_h, in_w]: dx is
// overwritten; each dy is added at its window's argmax (an input element that
// is the max of several overlapping windows gets the sum, in row-major order).
template <typename T>
void adaptive_max_pool2d_backward(T* dx, const T* dy, const pool_index_t* argmax, index_t planes,
                                  const AdaptivePool2dGeometry& g) {
#pragma omp parallel for schedule(static) if (planes * g.in_h * g.in_w > kElementwiseGrain)
  for (index_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * g.in_h * g.in_w;
    const T* dyp = dy + p * g.out_h * g.out_w;
    const pool_index_t* ip = argmax + p * g.out_h * g.out_w;
    for (index_t i = 0; i < g.in_h * g.in_w; ++i) dxp[i] = T(0);
    for (index_t o = 0; o < g.out_h * g.out_w; ++o) dxp[ip[o]] += dyp[o];
  }
}

}  // namespace cae::kernels
