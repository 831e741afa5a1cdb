// Max pooling at a cost that does not grow with the window (van Herk /
// Gil-Werman), for the large windows of the 000 paper (59x59 and 38x38,
// stride 1, on 158x158 inputs), where the direct scan costs thousands of
// comparisons per output.
//
// A 2-D window max is a max over rows of per-row maxima, so it is done in two
// 1-D passes: first along each row, then down the columns of the row results.
// Each 1-D pass cuts the sequence into blocks of `kernel` elements and keeps,
// per element, the max from its block's start (prefix) and the max to its
// block's end (suffix). Any window of `kernel` elements spans at most two
// adjacent blocks, so its max is max(suffix[first], prefix[last]): three
// comparisons per element whatever the window size.
//
// Ties: PyTorch picks the first maximum in row-major order, i.e. the topmost
// row holding the max, and the leftmost max within that row. Each 1-D pass
// returns the first (leftmost / topmost) of equal values: prefixes keep the
// earlier element on ties, suffixes move to the earlier one, and a window
// prefers its suffix part, which lies before its prefix part. The row pass
// thus yields the leftmost max of each row, and the column pass the topmost
// row among those with the largest value: exactly PyTorch's choice, so output,
// argmax and gradients match max_pool2d_forward bit for bit, ties included.
// (NaN excepted: PyTorch lets a NaN win its window; here NaNs compare as
// usual, and with NaNs in a window the two algorithms may pick differently.)
//
// Arrays and argmax as in pool.hpp. Any stride and padding; dilation must be 1.
#pragma once

#include <algorithm>
#include <vector>

#include "cae/kernels/pool.hpp"
#include "cae/kernels/workspace.hpp"

namespace cae::kernels {

// The two max-pooling algorithms, chosen in one place (select_max_pool_algorithm):
//   Direct      every window scanned (pool.hpp): any geometry
//   RunningMax  this file: dilation 1 (padding at most half the kernel, which
//               the layers require anyway)
enum class PoolAlgorithm { Auto, Direct, RunningMax };

inline const char* to_string(PoolAlgorithm a) {
  switch (a) {
    case PoolAlgorithm::Direct: return "direct";
    case PoolAlgorithm::RunningMax: return "running_max";
    default: return "auto";
  }
}

struct PoolChoice {
  PoolAlgorithm algorithm;
  const char* reason;  // fixed strings: selecting allocates nothing
};

// True where the running max beats the direct scan clearly: dilation 1 and a
// window of at least 25 elements per output, at most an eighth of them new.
inline bool prefer_running_max(const Pool2dGeometry& g) {
  const index_t window = g.kernel_h * g.kernel_w;
  return g.dilation_h == 1 && g.dilation_w == 1 && window >= 25 &&
         window >= 8 * g.stride_h * g.stride_w;
}

inline bool pool_algorithm_supports(PoolAlgorithm a, const Pool2dGeometry& g) {
  if (a != PoolAlgorithm::RunningMax) return true;
  return g.dilation_h == 1 && g.dilation_w == 1 && 2 * g.pad_h <= g.kernel_h &&
         2 * g.pad_w <= g.kernel_w;
}

// The algorithm for a max pool of geometry g; `forced` other than Auto is
// returned if it supports g, else this throws cae::Error.
inline PoolChoice select_max_pool_algorithm(const Pool2dGeometry& g,
                                            PoolAlgorithm forced = PoolAlgorithm::Auto) {
  if (forced != PoolAlgorithm::Auto) {
    CAE_CHECK(pool_algorithm_supports(forced, g), Error, "max pool algorithm ", to_string(forced),
              " cannot run this pooling: the running max needs dilation 1 and padding at most "
              "half the kernel");
    return {forced, "forced by the layer's options"};
  }
  if (prefer_running_max(g))
    return {PoolAlgorithm::RunningMax,
            "dilation 1, windows of >= 25 elements with at most an eighth of them new per step"};
  return {PoolAlgorithm::Direct, "small or strided windows"};
}

namespace running_max_detail {

// Which prefix/suffix entries window o reads: its first and last element,
// clipped to the sequence [0, n), and whether it lies within one block.
struct Span {
  index_t first, last;
  enum Use : int { Both, SuffixOnly, PrefixOnly } use;
};

// The spans of all m windows along one axis, written to t [m]; the same for
// every row and plane, so they are worked out once per call.
inline const Span* spans(Span* t, index_t n, index_t m, index_t kernel, index_t stride,
                         index_t pad) {
  for (index_t o = 0; o < m; ++o) {
    const index_t start = o * stride - pad;
    const index_t a = std::max<index_t>(start, 0), b = std::min(start + kernel - 1, n - 1);
    Span::Use use = Span::Both;
    if (a / kernel == b / kernel) {
      // Within one block, a window either starts at the block's start (the
      // prefix up to b covers it) or was clipped at the sequence's end, so the
      // block ends at b and the suffix from a covers it.
      use = a % kernel == 0 ? Span::PrefixOnly : Span::SuffixOnly;
    }
    t[o] = {a, b, use};
  }
  return t;
}

// Windows of one row: row[0, n) -> out / out_at [m]; out_at is the position in
// the plane (row_offset + column). pre/suf hold n values and positions each.
template <typename T>
void row_pass(T* out, pool_index_t* out_at, const T* row, index_t n, index_t m, index_t kernel,
              const Span* span, pool_index_t row_offset, T* pre, pool_index_t* pre_at, T* suf,
              pool_index_t* suf_at) {
  for (index_t b0 = 0; b0 < n; b0 += kernel) {
    const index_t end = std::min(b0 + kernel, n);
    // Selects rather than branches: on random data a branch here is a coin flip.
    T best = row[b0];
    pool_index_t at = static_cast<pool_index_t>(b0);
    pre[b0] = best;
    pre_at[b0] = at;
    for (index_t i = b0 + 1; i < end; ++i) {
      const T v = row[i];
      const bool greater = v > best;  // ties keep the earlier element
      best = greater ? v : best;
      at = greater ? static_cast<pool_index_t>(i) : at;
      pre[i] = best;
      pre_at[i] = at;
    }
    best = row[end - 1];
    at = static_cast<pool_index_t>(end - 1);
    suf[end - 1] = best;
    suf_at[end - 1] = at;
    for (index_t i = end - 2; i >= b0; --i) {
      const T v = row[i];
      const bool not_less = v >= best;  // ties move to the earlier element
      best = not_less ? v : best;
      at = not_less ? static_cast<pool_index_t>(i) : at;
      suf[i] = best;
      suf_at[i] = at;
    }
  }
  for (index_t o = 0; o < m; ++o) {
    const index_t a = span[o].first, b = span[o].last;
    bool take_suffix;
    switch (span[o].use) {
      case Span::SuffixOnly: take_suffix = true; break;
      case Span::PrefixOnly: take_suffix = false; break;
      default: take_suffix = suf[a] >= pre[b];  // the suffix part comes first
    }
    out[o] = take_suffix ? suf[a] : pre[b];
    out_at[o] = row_offset + (take_suffix ? suf_at[a] : pre_at[b]);
  }
}

// The same down the columns, all m_cols columns at once (contiguous rows, so
// the inner loops vectorize): rows [n][m_cols] -> out [m][m_cols]. `rows`
// becomes the prefix array in place; suf / suf_at are [n][m_cols] scratch.
template <typename T>
void column_pass(T* out, pool_index_t* out_at, T* rows, pool_index_t* rows_at, index_t n,
                 index_t m_cols, index_t m, index_t kernel, const Span* span, T* suf,
                 pool_index_t* suf_at) {
  for (index_t b0 = 0; b0 < n; b0 += kernel) {
    const index_t end = std::min(b0 + kernel, n);
    std::copy(rows + (end - 1) * m_cols, rows + end * m_cols, suf + (end - 1) * m_cols);
    std::copy(rows_at + (end - 1) * m_cols, rows_at + end * m_cols, suf_at + (end - 1) * m_cols);
    for (index_t i = end - 2; i >= b0; --i) {
      T* __restrict s = suf + i * m_cols;
      pool_index_t* __restrict s_at = suf_at + i * m_cols;
      const T* __restrict below = s + m_cols;
      const pool_index_t* __restrict below_at = s_at + m_cols;
      const T* __restrict r = rows + i * m_cols;
      const pool_index_t* __restrict r_at = rows_at + i * m_cols;
#pragma omp simd
      for (index_t c = 0; c < m_cols; ++c) {
        const bool here = r[c] >= below[c];
        s[c] = here ? r[c] : below[c];
        s_at[c] = here ? r_at[c] : below_at[c];
      }
    }
    for (index_t i = b0 + 1; i < end; ++i) {
      T* __restrict r = rows + i * m_cols;
      pool_index_t* __restrict r_at = rows_at + i * m_cols;
      const T* __restrict above = r - m_cols;
      const pool_index_t* __restrict above_at = r_at - m_cols;
#pragma omp simd
      for (index_t c = 0; c < m_cols; ++c) {
        const bool here = r[c] > above[c];
        r[c] = here ? r[c] : above[c];
        r_at[c] = here ? r_at[c] : above_at[c];
      }
    }
  }
  for (index_t o = 0; o < m; ++o) {
    const index_t a = span[o].first, b = span[o].last;
    T* __restrict y = out + o * m_cols;
    pool_index_t* __restrict y_at = out_at + o * m_cols;
    const T* s = suf + a * m_cols;
    const pool_index_t* s_at = suf_at + a * m_cols;
    const T* p = rows + b * m_cols;
    const pool_index_t* p_at = rows_at + b * m_cols;
    if (span[o].use == Span::SuffixOnly) {
      std::copy(s, s + m_cols, y);
      std::copy(s_at, s_at + m_cols, y_at);
    } else if (span[o].use == Span::PrefixOnly) {
      std::copy(p, p + m_cols, y);
      std::copy(p_at, p_at + m_cols, y_at);
    } else {
#pragma omp simd
      for (index_t c = 0; c < m_cols; ++c) {
        const bool take_suffix = s[c] >= p[c];
        y[c] = take_suffix ? s[c] : p[c];
        y_at[c] = take_suffix ? s_at[c] : p_at[c];
      }
    }
  }
}

}  // namespace running_max_detail

// x [planes, in_h, in_w] -> y, argmax [planes, out_h, out_w]; identical to
// max_pool2d_forward for dilation 1. Temporaries come from `scratch`
// (purposes kPoolRows per thread, kPoolSpans for the calling thread).
template <typename T>
void max_pool2d_running_forward(T* y, pool_index_t* argmax, const T* x, index_t planes,
                                const Pool2dGeometry& g, Scratch& scratch) {
  CAE_CHECK(g.dilation_h == 1 && g.dilation_w == 1, ShapeError,
            "max_pool2d_running_forward: dilation must be 1, got (", g.dilation_h, ", ",
            g.dilation_w, ")");
  CAE_CHECK(2 * g.pad_h <= g.kernel_h && 2 * g.pad_w <= g.kernel_w, ShapeError,
            "max_pool2d_running_forward: padding (", g.pad_h, ", ", g.pad_w,
            ") above half the kernel (", g.kernel_h, ", ", g.kernel_w, ")");
  const index_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  // Per plane: row results and column suffixes [in_h][out_w], row prefix/suffix [in_w].
  const index_t grid = g.in_h * g.out_w;
  const index_t per_plane = 2 * grid + 2 * g.in_w;
  using running_max_detail::Span;
  scratch.reserve(Scratch::kPoolSpans, sizeof(Span) * static_cast<std::size_t>(g.out_w + g.out_h));
  scratch.reserve(Scratch::kPoolRows, (sizeof(T) + sizeof(pool_index_t)) * static_cast<std::size_t>(per_plane));
  Span* tables = scratch.local<Span>(Scratch::kPoolSpans);
  const Span* width_spans =
      running_max_detail::spans(tables, g.in_w, g.out_w, g.kernel_w, g.stride_w, g.pad_w);
  const Span* height_spans =
      running_max_detail::spans(tables + g.out_w, g.in_h, g.out_h, g.kernel_h, g.stride_h, g.pad_h);
#pragma omp parallel for schedule(static) if (planes * in_plane > 16384)
  for (index_t p = 0; p < planes; ++p) {
    T* rows = scratch.local<T>(Scratch::kPoolRows);
    T* suf = rows + grid;
    T* line_pre = suf + grid;
    T* line_suf = line_pre + g.in_w;
    pool_index_t* rows_at = reinterpret_cast<pool_index_t*>(rows + per_plane);
    pool_index_t* suf_at = rows_at + grid;
    pool_index_t* line_pre_at = suf_at + grid;
    pool_index_t* line_suf_at = line_pre_at + g.in_w;

    const T* xp = x + p * in_plane;
    for (index_t ih = 0; ih < g.in_h; ++ih)
      running_max_detail::row_pass(rows + ih * g.out_w, rows_at + ih * g.out_w, xp + ih * g.in_w,
                                   g.in_w, g.out_w, g.kernel_w, width_spans,
                                   static_cast<pool_index_t>(ih * g.in_w), line_pre, line_pre_at,
                                   line_suf, line_suf_at);
    running_max_detail::column_pass(y + p * out_plane, argmax + p * out_plane, rows, rows_at,
                                    g.in_h, g.out_w, g.out_h, g.kernel_h, height_spans, suf, suf_at);
  }
}

// The backward pass is max_pool2d_backward (pool.hpp): it only follows argmax,
// at one addition per output whatever the window size.

}  // namespace cae::kernels
