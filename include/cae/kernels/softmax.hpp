// Softmax and log-softmax over dimension 1 (classes / channels).
//
// Tensors are viewed as [N, C, S], S being the product of the trailing
// dimensions (1 for [N, C] logits); each (n, s) column of C values is one
// distribution. Columns are handled in blocks of up to kSoftmaxBlock
// neighbouring s so that the inner loops run over contiguous memory even
// though the C values of one column are S apart. Subtracting the column's
// maximum before exp() keeps every exponent <= 0: no overflow for any logits.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "cae/shape.hpp"

namespace cae::kernels {

constexpr index_t kSoftmaxBlock = 64;

namespace detail {
// Calls f(base, len) for each block of len neighbouring columns: element
// (c, j) of the block is at base + c * S + j. Threads split the samples.
template <typename F>
void for_each_column_block(index_t N, index_t C, index_t S, F f) {
#pragma omp parallel for schedule(static) if (N * C * S > 16384)
  for (index_t n = 0; n < N; ++n)
    for (index_t s0 = 0; s0 < S; s0 += kSoftmaxBlock) f(n * C * S + s0, std::min(kSoftmaxBlock, S - s0));
}
}  // namespace detail

// y, x: [N, C, S]. y = exp(x - max) / sum(exp(x - max)) over C.
// log_space: y = x - max - log(sum(exp(x - max))) instead (LogSoftmax).
template <typename T>
void softmax_forward(T* y, const T* x, index_t N, index_t C, index_t S, bool log_space) {
  detail::for_each_column_block(N, C, S, [&](index_t base, index_t len) {
    T max[kSoftmaxBlock], sum[kSoftmaxBlock];
    std::fill(max, max + len, -std::numeric_limits<T>::infinity());
    std::fill(sum, sum + len, T(0));
    for (index_t c = 0; c < C; ++c)
      for (index_t j = 0; j < len; ++j) max[j] = std::max(max[j], x[base + c * S + j]);
    for (index_t c = 0; c < C; ++c)
      for (index_t j = 0; j < len; ++j) {
        const T e = std::exp(x[base + c * S + j] - max[j]);
        if (!log_space) y[base + c * S + j] = e;
        sum[j] += e;
      }
    if (log_space) {
      // (x - max) - log(sum), not x - (max + log(sum)): the latter rounds
      // log(sum) away when max is large.
      for (index_t j = 0; j < len; ++j) sum[j] = std::log(sum[j]);
      for (index_t c = 0; c < C; ++c)
        for (index_t j = 0; j < len; ++j)
          y[base + c * S + j] = (x[base + c * S + j] - max[j]) - sum[j];
    } else {
      for (index_t j = 0; j < len; ++j) sum[j] = T(1) / sum[j];
      for (index_t c = 0; c < C; ++c)
        for (index_t j = 0; j < len; ++j) y[base + c * S + j] *= sum[j];
    }
  });
}

// dx, dy, y: [N, C, S]; y is the forward's output.
//   softmax:     dx = y * (dy - sum_c(dy * y))
//   log_space:   dx = dy - exp(y) * sum_c(dy)
template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, index_t N, index_t C, index_t S,
                      bool log_space) {
  detail::for_each_column_block(N, C, S, [&](index_t base, index_t len) {
    T dot[kSoftmaxBlock];
    std::fill(dot, dot + len, T(0));
    for (index_t c = 0; c < C; ++c)
      for (index_t j = 0; j < len; ++j) {
        const index_t i = base + c * S + j;
        dot[j] += log_space ? dy[i] : dy[i] * y[i];
      }
    for (index_t c = 0; c < C; ++c)
      for (index_t j = 0; j < len; ++j) {
        const index_t i = base + c * S + j;
        dx[i] = log_space ? dy[i] - std::exp(y[i]) * dot[j] : y[i] * (dy[i] - dot[j]);
      }
  });
}

}  // namespace cae::kernels
