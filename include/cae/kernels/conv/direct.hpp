// Direct (loop) convolution kernels for layers with few filters, e.g. an
// autoencoder's last Conv2d(128, 1, 3) or LeNet's Conv2d(3, 6, 5). There the
// GEMM formulation moves a [Cin*kh*kw, positions] column matrix through memory
// (and transposes it for the weight gradient) to do a few multiply-adds per
// element; these loops instead read the image rows in place, from cache. With
// AVX-512 at stride 1 they are register-blocked: a block of up to 64 output
// columns of up to 12 filters (or image channels, or filter x tap column pairs
// for the weight gradient) is summed in vector registers over all taps, each
// input vector loaded once for the whole block.
//
// They are the per-image counterparts of conv2d.hpp's three products, with the
// same argument roles (see there): a [filters, patch], image [C, H, W] and the
// geometry g; the direct_conv_* functions at the end run them over a batch,
// threaded over images. Every output element is summed in a fixed order.
// Any shape works; select_conv_algorithm (select.hpp) picks these loops for
// few filters. Whether the AVX-512 loops are compiled in is a property of the
// build (-march); cpu_has_avx512() tells at runtime whether they may run.
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>

#include <type_traits>

#include "cae/kernels/conv/workspace.hpp"
#include "cae/kernels/im2col.hpp"

namespace cae::kernels {

// Widest kernel the register-blocked paths take (tap tables live on the stack).
constexpr index_t kMaxDirectTaps = 16;

namespace detail {

// Widest output row (in 16-value blocks) the register-blocked weight gradient takes.
constexpr index_t kMaxGradBlocks = 32;  // rows of up to 512 columns

// Rows are short (7 to 32 values): with AVX-512 a masked vector op covers the
// tail, where a compiler-vectorized loop would finish with up to 15 scalar steps.

// y[0:n] += w * x[0:n]
template <typename T>
inline void axpy_row(T* y, const T* x, T w, index_t n) {
#pragma omp simd
  for (index_t k = 0; k < n; ++k) y[k] += w * x[k];
}

// Accumulates x[0:n] * y[0:n] into `acc`; sum_lanes(acc) gives the total.
template <typename T>
struct DotAccumulator {
  T acc = 0;
  void add(const T* x, const T* y, index_t n) {
    for (index_t k = 0; k < n; ++k) acc += x[k] * y[k];
  }
  T total() const { return acc; }
};

#if defined(__AVX512F__)
inline __mmask16 tail_mask(index_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

inline void axpy_row(float* y, const float* x, float w, index_t n) {
  const __m512 wv = _mm512_set1_ps(w);
  index_t k = 0;
  for (; k + 16 <= n; k += 16)
    _mm512_storeu_ps(y + k, _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k)));
  if (k < n) {
    const __mmask16 m = tail_mask(n - k);
    _mm512_mask_storeu_ps(y + k, m, _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + k),
                                                    _mm512_maskz_loadu_ps(m, y + k)));
  }
}

template <>
struct DotAccumulator<float> {
  __m512 acc = _mm512_setzero_ps();
  void add(const float* x, const float* y, index_t n) {
    index_t k = 0;
    for (; k + 16 <= n; k += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k), acc);
    if (k < n) {
      const __mmask16 m = tail_mask(n - k);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, y + k), acc);
    }
  }
  float total() const { return _mm512_reduce_add_ps(acc); }
};

// Column shifts and lane masks of a row's taps, for one block of up to 64
// output columns starting at ow0: tap j reads source column ow + offset[j] for
// output columns ow in [lo[j], hi[j]) (the others are padding).
struct TapMasks {
  index_t offset[kMaxDirectTaps];
  __mmask16 mask[kMaxDirectTaps][4];
  TapMasks(index_t taps, const index_t* offsets, const index_t* lo, const index_t* hi,
           index_t ow0) {
    for (index_t j = 0; j < taps; ++j) {
      offset[j] = offsets[j] + ow0;
      for (index_t v = 0; v < 4; ++v) mask[j][v] = lane_mask(lo[j], hi[j], ow0 + 16 * v);
    }
  }
};

// acc[f][v] += w[f * w_stride + j] * row[offset[j] + 16 v + lane] over the taps j
// of one source row: each vector of the row is loaded once for FB outputs.
template <int FB, int NV>
inline void row_taps(__m512 (&acc)[FB][NV], const float* row, const float* w, index_t w_stride,
                     index_t taps, const TapMasks& t) {
  for (index_t j = 0; j < taps; ++j) {
    // Masked-off lanes are not read, so the address may point outside the row.
    const float* src = row + t.offset[j];
    __m512 x[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(t.mask[j][v], src + 16 * v);
#pragma GCC unroll 12
    for (int f = 0; f < FB; ++f) {
      const __m512 wv = _mm512_set1_ps(w[f * w_stride + j]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[f][v] = _mm512_fmadd_ps(wv, x[v], acc[f][v]);
    }
  }
}

// Calls fn(first, std::integral_constant<int, FB>) over blocks of `count`
// outputs (filters or channels) computed together: FB * NV accumulators stay
// within 24 vector registers.
template <int NV, typename Fn>
inline void for_output_blocks(index_t count, Fn fn) {
  constexpr int kMax = 24 / NV < 12 ? 24 / NV : 12;
  index_t first = 0;
  while (first < count) {
    const index_t left = count - first;
    if constexpr (kMax >= 12) {
      if (left >= 12) { fn(first, std::integral_constant<int, 12>()); first += 12; continue; }
    }
    if constexpr (kMax >= 8) {
      if (left >= 8) { fn(first, std::integral_constant<int, 8>()); first += 8; continue; }
    }
    if (left >= 6) { fn(first, std::integral_constant<int, 6>()); first += 6; continue; }
    if (left >= 4) { fn(first, std::integral_constant<int, 4>()); first += 4; continue; }
    if (left >= 2) { fn(first, std::integral_constant<int, 2>()); first += 2; continue; }
    fn(first, std::integral_constant<int, 1>());
    first += 1;
  }
}

// out[ow0 : ow0 + 16 NV) (only columns < width) += acc
template <int NV>
inline void add_row_block(float* out, const __m512 (&acc)[NV], index_t ow0, index_t width) {
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = lane_mask(0, width, ow0 + 16 * v);
    float* o = out + ow0 + 16 * v;
    _mm512_mask_storeu_ps(o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, o), acc[v]));
  }
}

// direct_patch_weight_grad for stride 1 and KW tap columns: per (block of FB
// filters, channel, tap row) one accumulator per (filter, tap column), fed by
// each 16-column block of the output rows; every vector is loaded once.
template <int KW, int FB>
inline void weight_grad_block(float* da, const float* b, const float* image,
                              const ConvGeometry& g, index_t f0, const index_t* offset,
                              const __mmask16 (*mask)[kMaxGradBlocks], const __mmask16* row_mask) {
  const index_t P = g.positions(), K = g.patch_size(), blocks = (g.out_w + 15) / 16;
  for (index_t c = 0; c < g.channels; ++c)
    for (index_t i = 0; i < g.kernel_h; ++i) {
      __m512 acc[FB][KW];
#pragma GCC unroll 12
      for (int f = 0; f < FB; ++f)
#pragma GCC unroll 5
        for (int j = 0; j < KW; ++j) acc[f][j] = _mm512_setzero_ps();
      for (index_t oh = 0; oh < g.out_h; ++oh) {
        const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
        if (ih < 0 || ih >= g.height) continue;
        const float* dy = b + f0 * P + oh * g.out_w;
        const float* row = image + (c * g.height + ih) * g.width;
        for (index_t v = 0; v < blocks; ++v) {
          __m512 x[KW];
#pragma GCC unroll 5
          for (int j = 0; j < KW; ++j)
            x[j] = _mm512_maskz_loadu_ps(mask[j][v], row + 16 * v + offset[j]);
#pragma GCC unroll 8
          for (int f = 0; f < FB; ++f) {
            const __m512 d = _mm512_maskz_loadu_ps(row_mask[v], dy + f * P + 16 * v);
#pragma GCC unroll 5
            for (int j = 0; j < KW; ++j) acc[f][j] = _mm512_fmadd_ps(d, x[j], acc[f][j]);
          }
        }
      }
#pragma GCC unroll 12
      for (int f = 0; f < FB; ++f)
#pragma GCC unroll 5
        for (int j = 0; j < KW; ++j)
          da[(f0 + f) * K + (c * g.kernel_h + i) * KW + j] += _mm512_reduce_add_ps(acc[f][j]);
    }
}

template <int KW>
inline void weight_grad_rows(float* da, const float* b, const float* image, const ConvGeometry& g,
                             index_t filters) {
  const index_t blocks = (g.out_w + 15) / 16;
  index_t offset[KW];
  __mmask16 mask[KW][kMaxGradBlocks], row_mask[kMaxGradBlocks];
  for (int j = 0; j < KW; ++j) {
    offset[j] = j * g.dilation_w - g.pad_w;
    index_t lo, hi;
    valid_range(offset[j], 1, g.width, g.out_w, lo, hi);
    for (index_t v = 0; v < blocks; ++v) mask[j][v] = lane_mask(lo, hi, 16 * v);
  }
  for (index_t v = 0; v < blocks; ++v) row_mask[v] = lane_mask(0, g.out_w, 16 * v);
  // FB * KW accumulators within 24 registers: NV = KW in for_output_blocks' terms.
  for_output_blocks<KW>(filters, [&](index_t f0, auto fb) {
    weight_grad_block<KW, decltype(fb)::value>(da, b, image, g, f0, offset, mask, row_mask);
  });
}

// Calls block(ow0, std::integral_constant<int, NV>) over a row of `width`
// columns in blocks of up to 64 (NV <= 4 vector registers).
template <typename Block>
inline void for_row_blocks(index_t width, Block block) {
  for (index_t ow0 = 0; ow0 < width; ow0 += 64) {
    switch (std::min<index_t>((width - ow0 + 15) / 16, 4)) {
      case 1: block(ow0, std::integral_constant<int, 1>()); break;
      case 2: block(ow0, std::integral_constant<int, 2>()); break;
      case 3: block(ow0, std::integral_constant<int, 3>()); break;
      default: block(ow0, std::integral_constant<int, 4>()); break;
    }
  }
}
#endif

}  // namespace detail

// out [filters, P] += a [filters, patch] * im2col(image)
template <typename T>
void direct_patch_product(T* out, const T* a, const T* image, const ConvGeometry& g,
                          index_t filters) {
  const index_t P = g.positions(), K = g.patch_size(), sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value) {
    if (sw == 1 && g.kernel_w <= kMaxDirectTaps) {
      // Each block of an output row sums all channels and taps in registers.
      index_t offset[kMaxDirectTaps], lo[kMaxDirectTaps], hi[kMaxDirectTaps];
      for (index_t j = 0; j < g.kernel_w; ++j) {
        offset[j] = j * g.dilation_w - g.pad_w;
        detail::valid_range(offset[j], 1, g.width, g.out_w, lo[j], hi[j]);
      }
      detail::for_row_blocks(g.out_w, [&](index_t ow0, auto nv) {
        constexpr int NV = decltype(nv)::value;
        const detail::TapMasks taps(g.kernel_w, offset, lo, hi, ow0);
        detail::for_output_blocks<NV>(filters, [&](index_t f0, auto fb) {
          constexpr int FB = decltype(fb)::value;
          for (index_t oh = 0; oh < g.out_h; ++oh) {
            __m512 acc[FB][NV];
#pragma GCC unroll 12
            for (int f = 0; f < FB; ++f)
#pragma GCC unroll 4
              for (int v = 0; v < NV; ++v) acc[f][v] = _mm512_setzero_ps();
            for (index_t c = 0; c < g.channels; ++c)
              for (index_t i = 0; i < g.kernel_h; ++i) {
                const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
                if (ih < 0 || ih >= g.height) continue;
                detail::row_taps<FB, NV>(acc, image + (c * g.height + ih) * g.width,
                                         a + f0 * K + (c * g.kernel_h + i) * g.kernel_w, K,
                                         g.kernel_w, taps);
              }
#pragma GCC unroll 12
            for (int f = 0; f < FB; ++f)
              detail::add_row_block<NV>(out + (f0 + f) * P + oh * g.out_w, acc[f], ow0, g.out_w);
          }
        });
      });
      return;
    }
  }
#endif
  for (index_t f = 0; f < filters; ++f)
    for (index_t c = 0; c < g.channels; ++c)
      for (index_t i = 0; i < g.kernel_h; ++i)
        for (index_t j = 0; j < g.kernel_w; ++j) {
          const T w = a[f * K + (c * g.kernel_h + i) * g.kernel_w + j];
          const index_t offset_w = j * g.dilation_w - g.pad_w;
          index_t lo, hi;
          detail::valid_range(offset_w, sw, g.width, g.out_w, lo, hi);
          if (hi <= lo) continue;
          for (index_t oh = 0; oh < g.out_h; ++oh) {
            const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            if (ih < 0 || ih >= g.height) continue;
            T* o = out + f * P + oh * g.out_w + lo;
            const T* src = image + (c * g.height + ih) * g.width + lo * sw + offset_w;
            if (sw == 1) {
              detail::axpy_row(o, src, w, hi - lo);
            } else {
              for (index_t k = 0; k < hi - lo; ++k) o[k] += w * src[k * sw];
            }
          }
        }
}

// image [C, H, W] += col2im(a^T * b) for b [filters, P]
template <typename T>
void direct_patch_scatter(T* image, const T* a, const T* b, const ConvGeometry& g,
                          index_t filters) {
  const index_t P = g.positions(), K = g.patch_size(), sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value) {
    if (sw == 1 && g.stride_h == 1 && g.kernel_w <= kMaxDirectTaps) {
      // Stride 1: image pixel (ih, iw) receives b[f][ih + pad - i*d][iw + pad - j*d]
      // from tap (i, j), so each block of an image row gathers its sum in registers.
      index_t offset[kMaxDirectTaps], lo[kMaxDirectTaps], hi[kMaxDirectTaps];
      for (index_t j = 0; j < g.kernel_w; ++j) {
        offset[j] = g.pad_w - j * g.dilation_w;
        detail::valid_range(offset[j], 1, g.out_w, g.width, lo[j], hi[j]);
      }
      const index_t taps_per_channel = g.kernel_h * g.kernel_w;
      detail::for_row_blocks(g.width, [&](index_t iw0, auto nv) {
        constexpr int NV = decltype(nv)::value;
        const detail::TapMasks taps(g.kernel_w, offset, lo, hi, iw0);
        detail::for_output_blocks<NV>(g.channels, [&](index_t c0, auto cb) {
          constexpr int CB = decltype(cb)::value;
          for (index_t ih = 0; ih < g.height; ++ih) {
            __m512 acc[CB][NV];
#pragma GCC unroll 12
            for (int c = 0; c < CB; ++c)
#pragma GCC unroll 4
              for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_setzero_ps();
            for (index_t f = 0; f < filters; ++f)
              for (index_t i = 0; i < g.kernel_h; ++i) {
                const index_t oh = ih + g.pad_h - i * g.dilation_h;
                if (oh < 0 || oh >= g.out_h) continue;
                detail::row_taps<CB, NV>(acc, b + f * P + oh * g.out_w,
                                         a + f * K + (c0 * g.kernel_h + i) * g.kernel_w,
                                         taps_per_channel, g.kernel_w, taps);
              }
#pragma GCC unroll 12
            for (int c = 0; c < CB; ++c)
              detail::add_row_block<NV>(image + ((c0 + c) * g.height + ih) * g.width, acc[c], iw0,
                                        g.width);
          }
        });
      });
      return;
    }
  }
#endif
  for (index_t c = 0; c < g.channels; ++c)
    for (index_t i = 0; i < g.kernel_h; ++i)
      for (index_t j = 0; j < g.kernel_w; ++j) {
        const index_t offset_w = j * g.dilation_w - g.pad_w;
        index_t lo, hi;
        detail::valid_range(offset_w, sw, g.width, g.out_w, lo, hi);
        if (hi <= lo) continue;
        for (index_t f = 0; f < filters; ++f) {
          const T w = a[f * K + (c * g.kernel_h + i) * g.kernel_w + j];
          for (index_t oh = 0; oh < g.out_h; ++oh) {
            const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            if (ih < 0 || ih >= g.height) continue;
            T* dst = image + (c * g.height + ih) * g.width + lo * sw + offset_w;
            const T* src = b + f * P + oh * g.out_w + lo;
            if (sw == 1) {
              detail::axpy_row(dst, src, w, hi - lo);
            } else {
              for (index_t k = 0; k < hi - lo; ++k) dst[k * sw] += w * src[k];
            }
          }
        }
      }
}

// da [filters, patch] += b [filters, P] * im2col(image)^T
template <typename T>
void direct_patch_weight_grad(T* da, const T* b, const T* image, const ConvGeometry& g,
                              index_t filters) {
  const index_t P = g.positions(), K = g.patch_size(), sw = g.stride_w;
#if defined(__AVX512F__)
  if constexpr (std::is_same<T, float>::value) {
    if (sw == 1 && (g.out_w + 15) / 16 <= detail::kMaxGradBlocks) {
      switch (g.kernel_w) {
        case 1: return detail::weight_grad_rows<1>(da, b, image, g, filters);
        case 2: return detail::weight_grad_rows<2>(da, b, image, g, filters);
        case 3: return detail::weight_grad_rows<3>(da, b, image, g, filters);
        case 4: return detail::weight_grad_rows<4>(da, b, image, g, filters);
        case 5: return detail::weight_grad_rows<5>(da, b, image, g, filters);
        default: break;
      }
    }
  }
#endif
  for (index_t f = 0; f < filters; ++f)
    for (index_t c = 0; c < g.channels; ++c)
      for (index_t i = 0; i < g.kernel_h; ++i)
        for (index_t j = 0; j < g.kernel_w; ++j) {
          const index_t offset_w = j * g.dilation_w - g.pad_w;
          index_t lo, hi;
          detail::valid_range(offset_w, sw, g.width, g.out_w, lo, hi);
          detail::DotAccumulator<T> dot;
          T strided = 0;
          for (index_t oh = 0; oh < g.out_h && hi > lo; ++oh) {
            const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            if (ih < 0 || ih >= g.height) continue;
            const T* dy = b + f * P + oh * g.out_w + lo;
            const T* src = image + (c * g.height + ih) * g.width + lo * sw + offset_w;
            if (sw == 1) {
              dot.add(dy, src, hi - lo);
            } else {
              for (index_t k = 0; k < hi - lo; ++k) strided += dy[k] * src[k * sw];
            }
          }
          da[f * K + (c * g.kernel_h + i) * g.kernel_w + j] += dot.total() + strided;
        }
}

// out [batch, filters, P] = a [filters, patch] * im2col(images [batch, C, H, W]) + bias [filters]
// (bias may be null): Conv2d's forward, ConvTranspose2d's input gradient.
template <typename T>
void direct_conv_product(T* out, const T* a, const T* bias, const T* images, index_t batch,
                         index_t filters, const ConvGeometry& g) {
  const index_t P = g.positions();
  const bool parallel = batch * filters * g.patch_size() * P > detail::kMinParallelWork;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (index_t n = 0; n < batch; ++n) {
    T* o = out + n * filters * P;
    for (index_t f = 0; f < filters; ++f) std::fill(o + f * P, o + (f + 1) * P, bias ? bias[f] : T(0));
    direct_patch_product(o, a, images + n * g.image_size(), g, filters);
  }
}

// images [batch, C, H, W] = col2im(a^T * b) + bias [C] for a [filters, patch] and
// b [batch, filters, P] (bias may be null): Conv2d's input gradient,
// ConvTranspose2d's forward.
template <typename T>
void direct_conv_scatter(T* images, const T* a, const T* bias, const T* b, index_t batch,
                         index_t filters, const ConvGeometry& g) {
  const index_t P = g.positions(), plane = g.height * g.width;
  const bool parallel = batch * filters * g.patch_size() * P > detail::kMinParallelWork;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (index_t n = 0; n < batch; ++n) {
    for (index_t c = 0; c < g.channels; ++c) {
      T* dst = images + n * g.image_size() + c * plane;
      std::fill(dst, dst + plane, bias ? bias[c] : T(0));
    }
    direct_patch_scatter(images + n * g.image_size(), a, b + n * filters * P, g, filters);
  }
}

// da [filters, patch] += sum over the batch of b_n [filters, P] * im2col(images_n)^T,
// summed per fixed chunk of images (in `partials`), chunks added in order.
template <typename T>
void direct_conv_weight_grad(T* da, const T* b, const T* images, index_t batch, index_t filters,
                             const ConvGeometry& g, Tensor<T>& partials) {
  using namespace detail;
  const index_t K = g.patch_size(), size = filters * K, P = g.positions();
  const bool parallel = batch * filters * K * P > kMinParallelWork;
  const index_t chunks = std::clamp<index_t>(batch, 1, kMaxChunks);
  if (chunks > 1) partials.resize({chunks, size});
  T* sums = partials.data();
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (index_t c = 0; c < chunks; ++c) {
    T* target = chunks > 1 ? sums + c * size : da;
    if (chunks > 1) std::fill(target, target + size, T(0));
    index_t n0, n1;
    block_range(c, chunks, batch, n0, n1);
    for (index_t n = n0; n < n1; ++n)
      direct_patch_weight_grad(target, b + n * filters * P, images + n * g.image_size(), g,
                               filters);
  }
  if (chunks > 1) add_partials(da, sums, chunks, size);
}

}  // namespace cae::kernels
