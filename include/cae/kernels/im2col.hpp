// im2col / col2im: the patch matrix behind Conv2d and ConvTranspose2d.
//
// Memory layout (everything row-major, NCHW):
//   image    [channels, height, width]                     one sample
//   columns  [channels * kernel_h * kernel_w, rows * out_w] one tile of output rows,
//            rows `ld` elements apart (ld >= rows * out_w), so several images'
//            tiles can sit side by side in one wider matrix
// Row r = (c * kernel_h + i) * kernel_w + j of the column matrix holds, for
// every output position (oh, ow) of the tile, the image value under kernel tap
// (i, j) of channel c:
//   image[c, oh * stride_h - pad_h + i * dilation_h, ow * stride_w - pad_w + j * dilation_w]
// or 0 where that falls into the padding. This row order is the order of a
// Conv2d weight [out, in, kh, kw] seen as a matrix [out, in * kh * kw], so a
// convolution is one GEMM: weight * columns.
//
// Both functions work on a tile of output rows [oh_begin, oh_end), so a layer
// can keep the column matrix small enough to stay in cache.
#pragma once

#include <algorithm>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cae/shape.hpp"

namespace cae::kernels {

// The geometry of a convolution seen from its image side: an image of
// channels x height x width, read by a kernel_h x kernel_w window (with
// stride, zero padding and dilation) at out_h x out_w positions. For a
// transposed convolution the "image" is the layer's output and the positions
// are the layer's input pixels.
struct ConvGeometry {
  index_t channels = 0, height = 0, width = 0;
  index_t out_h = 0, out_w = 0;
  index_t kernel_h = 1, kernel_w = 1;
  index_t stride_h = 1, stride_w = 1;
  index_t pad_h = 0, pad_w = 0;
  index_t dilation_h = 1, dilation_w = 1;

  index_t image_size() const { return channels * height * width; }
  // Rows of the column matrix: one per (channel, kernel tap).
  index_t patch_size() const { return channels * kernel_h * kernel_w; }
  // Columns of the full column matrix: one per output position.
  index_t positions() const { return out_h * out_w; }
  // A 1x1 kernel at stride 1 without padding reads each pixel once, in place:
  // the image itself is the column matrix and im2col can be skipped.
  bool operator==(const ConvGeometry& o) const {
    return channels == o.channels && height == o.height && width == o.width && out_h == o.out_h &&
           out_w == o.out_w && kernel_h == o.kernel_h && kernel_w == o.kernel_w &&
           stride_h == o.stride_h && stride_w == o.stride_w && pad_h == o.pad_h &&
           pad_w == o.pad_w && dilation_h == o.dilation_h && dilation_w == o.dilation_w;
  }
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 &&
           pad_w == 0 && out_h == height && out_w == width;
  }
};

// PyTorch's output size of a convolution along one axis (may be <= 0 for
// inputs smaller than the kernel; callers check).
inline index_t conv_output_size(index_t in, index_t kernel, index_t stride, index_t pad,
                                index_t dilation) {
  const index_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// PyTorch's output size of a transposed convolution along one axis.
inline index_t conv_transpose_output_size(index_t in, index_t kernel, index_t stride, index_t pad,
                                          index_t dilation, index_t output_padding) {
  return (in - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1;
}

namespace detail {
// dst[k] = src[2 k] for k < n: the rows of a stride-2 convolution.
template <typename T>
inline void copy_stride2(T* dst, const T* src, index_t n) {
  for (index_t k = 0; k < n; ++k) dst[k] = src[2 * k];
}
#if defined(__AVX512F__)
// Lanes [lo, hi) of a 16-lane vector whose first lane is column `first`.
inline __mmask16 lane_mask(index_t lo, index_t hi, index_t first) {
  const index_t a = std::clamp<index_t>(lo - first, 0, 16), b = std::clamp<index_t>(hi - first, 0, 16);
  return b > a ? static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u)) : __mmask16(0);
}

// Rows of up to kMaskedRowBlocks * 16 columns are copied with one masked load
// and store per 16 columns, the padding zeros included.
constexpr index_t kMaskedRowBlocks = 32;

inline void copy_stride2(float* dst, const float* src, index_t n) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  index_t k = 0;
  for (; k + 16 <= n; k += 16) {
    // src[2k .. 2k+30] lies in two vectors; the last one is masked to stay in bounds.
    const __m512 lo = _mm512_loadu_ps(src + 2 * k);
    const __m512 hi = _mm512_maskz_loadu_ps(0x7fff, src + 2 * k + 16);
    _mm512_storeu_ps(dst + k, _mm512_permutex2var_ps(lo, even, hi));
  }
  for (; k < n; ++k) dst[k] = src[2 * k];
}
#endif

// Floor division that rounds toward minus infinity for negative numerators.
inline index_t floor_div(index_t a, index_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Output columns [lo, hi) whose input column ow * stride + offset lies in [0, width).
inline void valid_range(index_t offset, index_t stride, index_t width, index_t out_w, index_t& lo,
                        index_t& hi) {
  lo = std::max<index_t>(0, -floor_div(offset, stride));
  hi = std::min<index_t>(out_w, floor_div(width - 1 - offset, stride) + 1);
  if (hi < lo) hi = lo;
}
}  // namespace detail

// columns [patch_size, (oh_end - oh_begin) * out_w] (row stride ld) = patches of
// image [channels, height, width] at output rows [oh_begin, oh_end)
template <typename T>
void im2col(T* columns, index_t ld, const T* image, const ConvGeometry& g, index_t oh_begin,
            index_t oh_end) {
  const index_t out_w = g.out_w, sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value) {
    const index_t blocks = (out_w + 15) / 16;
    if (sw == 1 && blocks <= detail::kMaskedRowBlocks) {
      __mmask16 store[detail::kMaskedRowBlocks], load[detail::kMaskedRowBlocks];
      for (index_t v = 0; v < blocks; ++v) store[v] = detail::lane_mask(0, out_w, 16 * v);
      for (index_t c = 0; c < g.channels; ++c)
        for (index_t i = 0; i < g.kernel_h; ++i)
          for (index_t j = 0; j < g.kernel_w; ++j) {
            float* row = columns + ((c * g.kernel_h + i) * g.kernel_w + j) * ld;
            const index_t offset_w = j * g.dilation_w - g.pad_w;
            index_t lo, hi;
            detail::valid_range(offset_w, 1, g.width, out_w, lo, hi);
            for (index_t v = 0; v < blocks; ++v) load[v] = detail::lane_mask(lo, hi, 16 * v);
            for (index_t oh = oh_begin; oh < oh_end; ++oh, row += out_w) {
              const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
              const bool inside = ih >= 0 && ih < g.height;
              // Masked-off lanes are not read: the address may lie outside the image.
              const float* src = image + (c * g.height + (inside ? ih : 0)) * g.width + offset_w;
              for (index_t v = 0; v < blocks; ++v)
                _mm512_mask_storeu_ps(row + 16 * v, store[v],
                                      _mm512_maskz_loadu_ps(inside ? load[v] : 0, src + 16 * v));
            }
          }
      return;
    }
  }
#endif
  for (index_t c = 0; c < g.channels; ++c) {
    const T* plane = image + c * g.height * g.width;
    for (index_t i = 0; i < g.kernel_h; ++i) {
      for (index_t j = 0; j < g.kernel_w; ++j) {
        T* row = columns + ((c * g.kernel_h + i) * g.kernel_w + j) * ld;
        const index_t offset_w = j * g.dilation_w - g.pad_w;
        index_t lo, hi;
        detail::valid_range(offset_w, sw, g.width, out_w, lo, hi);
        // Rows are short (7 to 160 values) and many: plain loops, which the
        // compiler vectorizes in place, beat a memcpy/memset call per row.
        for (index_t oh = oh_begin; oh < oh_end; ++oh, row += out_w) {
          const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) {
            for (index_t k = 0; k < out_w; ++k) row[k] = T(0);
            continue;
          }
          for (index_t k = 0; k < lo; ++k) row[k] = T(0);
          if (hi > lo) {
            // First valid input pixel of this row; formed only when there is one.
            const T* src = plane + ih * g.width + lo * sw + offset_w;
            T* dst = row + lo;
            const index_t n = hi - lo;
            if (sw == 1) {
#pragma omp simd
              for (index_t k = 0; k < n; ++k) dst[k] = src[k];
            } else if (sw == 2) {
              detail::copy_stride2(dst, src, n);
            } else {
              for (index_t k = 0; k < n; ++k) dst[k] = src[k * sw];
            }
          }
          for (index_t k = hi; k < out_w; ++k) row[k] = T(0);
        }
      }
    }
  }
}

// image [channels, height, width] += the adjoint of im2col applied to
// columns [patch_size, (oh_end - oh_begin) * out_w] (row stride ld): each column
// value is added back onto the pixel it was read from (padding taps are dropped).
template <typename T>
void col2im(T* image, const T* columns, index_t ld, const ConvGeometry& g, index_t oh_begin,
            index_t oh_end) {
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value) {
    const index_t blocks = (g.out_w + 15) / 16;
    if (g.stride_w == 1 && blocks <= detail::kMaskedRowBlocks) {
      __mmask16 mask[detail::kMaskedRowBlocks];
      for (index_t c = 0; c < g.channels; ++c)
        for (index_t i = 0; i < g.kernel_h; ++i)
          for (index_t j = 0; j < g.kernel_w; ++j) {
            const float* row = columns + ((c * g.kernel_h + i) * g.kernel_w + j) * ld;
            const index_t offset_w = j * g.dilation_w - g.pad_w;
            index_t lo, hi;
            detail::valid_range(offset_w, 1, g.width, g.out_w, lo, hi);
            for (index_t v = 0; v < blocks; ++v) mask[v] = detail::lane_mask(lo, hi, 16 * v);
            for (index_t oh = oh_begin; oh < oh_end; ++oh, row += g.out_w) {
              const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
              if (ih < 0 || ih >= g.height) continue;
              float* dst = image + (c * g.height + ih) * g.width + offset_w;
              for (index_t v = 0; v < blocks; ++v) {
                const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], dst + 16 * v),
                                                 _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
                _mm512_mask_storeu_ps(dst + 16 * v, mask[v], sum);
              }
            }
          }
      return;
    }
  }
#endif
  for (index_t c = 0; c < g.channels; ++c) {
    T* plane = image + c * g.height * g.width;
    for (index_t i = 0; i < g.kernel_h; ++i) {
      for (index_t j = 0; j < g.kernel_w; ++j) {
        const T* row = columns + ((c * g.kernel_h + i) * g.kernel_w + j) * ld;
        const index_t offset_w = j * g.dilation_w - g.pad_w;
        index_t lo, hi;
        detail::valid_range(offset_w, g.stride_w, g.width, g.out_w, lo, hi);
        for (index_t oh = oh_begin; oh < oh_end; ++oh, row += g.out_w) {
          const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          if (hi <= lo) continue;
          T* dst = plane + ih * g.width + lo * g.stride_w + offset_w;
          const T* src = row + lo;
          if (g.stride_w == 1) {
#pragma omp simd
            for (index_t k = 0; k < hi - lo; ++k) dst[k] += src[k];
          } else {
            for (index_t k = 0; k < hi - lo; ++k) dst[k * g.stride_w] += src[k];
          }
        }
      }
    }
  }
}

}  // namespace cae::kernels
