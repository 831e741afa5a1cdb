// Softmax and log-softmax over one dimension of a tensor viewed as [N, C, S].
//
// Tensors are viewed as [N, C, S]: C the softmax dimension, N the product of
// the dimensions before it and S that of the dimensions after it (1 for [N, C]
// logits, or for the last dimension); each (n, s) column of C values is one
// distribution. For S = 1 a column is a contiguous row. Otherwise columns are
// handled in blocks of up to kSoftmaxBlock neighbouring s, so that the inner
// loops still run over contiguous memory although the C values of one column
// lie S apart. Subtracting the column's maximum before exp() keeps every
// exponent <= 0: no overflow for any logits. exp() and log() go through
// Eigen's vectorized versions, several times faster than std::exp.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Core>

#include "cae/shape.hpp"

namespace cae::kernels {

constexpr index_t kSoftmaxBlock = 64;

namespace detail {
template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using Column = Eigen::Array<T, kSoftmaxBlock, 1>;

// Calls f(base, len) for each block of len neighbouring columns: element
// (c, j) of the block is at base + c * S + j. Threads split the blocks (of
// all N together, so that a softmax over dimension 0, N = 1, still uses them).
template <typename F>
void for_each_column_block(index_t N, index_t C, index_t S, F f) {
  const index_t blocks = (S + kSoftmaxBlock - 1) / kSoftmaxBlock;
#pragma omp parallel for schedule(static) if (N * C * S > 16384)
  for (index_t k = 0; k < N * blocks; ++k) {
    const index_t n = k / blocks, s0 = (k % blocks) * kSoftmaxBlock;
    f(n * C * S + s0, std::min(kSoftmaxBlock, S - s0));
  }
}
}  // namespace detail

// y, x: [N, C, S]. y = exp(x - max) / sum(exp(x - max)) over C.
// log_space: y = (x - max) - log(sum(exp(x - max))) instead (LogSoftmax); not
// x - (max + log(sum)), which rounds log(sum) away when max is large.
template <typename T>
void softmax_forward(T* y, const T* x, index_t N, index_t C, index_t S, bool log_space) {
  using detail::ArrayMap;
  using detail::ConstArrayMap;
  if (S == 1) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (index_t n = 0; n < N; ++n) {
      ConstArrayMap<T> in(x + n * C, C);
      ArrayMap<T> out(y + n * C, C);
      const T max = in.maxCoeff();
      out = (in - max).exp();
      const T sum = out.sum();
      if (log_space)
        out = (in - max) - std::log(sum);
      else
        out *= T(1) / sum;
    }
    return;
  }
  detail::for_each_column_block(N, C, S, [&](index_t base, index_t len) {
    detail::Column<T> max_storage, sum_storage;
    auto max = max_storage.head(len);
    auto sum = sum_storage.head(len);
    max.setConstant(-std::numeric_limits<T>::infinity());
    sum.setZero();
    for (index_t c = 0; c < C; ++c) max = max.max(ConstArrayMap<T>(x + base + c * S, len));
    for (index_t c = 0; c < C; ++c) {
      ArrayMap<T> out(y + base + c * S, len);
      out = (ConstArrayMap<T>(x + base + c * S, len) - max).exp();
      sum += out;
    }
    if (log_space) {
      sum = sum.log();
      for (index_t c = 0; c < C; ++c)
        ArrayMap<T>(y + base + c * S, len) = (ConstArrayMap<T>(x + base + c * S, len) - max) - sum;
    } else {
      sum = sum.inverse();
      for (index_t c = 0; c < C; ++c) ArrayMap<T>(y + base + c * S, len) *= sum;
    }
  });
}

// dx, dy, y: [N, C, S]; y is the forward's output.
//   softmax:     dx = y * (dy - sum_c(dy * y))
//   log_space:   dx = dy - exp(y) * sum_c(dy)
template <typename T>
void softmax_backward(T* dx, const T* dy, const T* y, index_t N, index_t C, index_t S,
                      bool log_space) {
  using detail::ArrayMap;
  using detail::ConstArrayMap;
  if (S == 1) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (index_t n = 0; n < N; ++n) {
      ConstArrayMap<T> g(dy + n * C, C), out(y + n * C, C);
      ArrayMap<T> d(dx + n * C, C);
      if (log_space)
        d = g - out.exp() * g.sum();
      else
        d = out * (g - (g * out).sum());
    }
    return;
  }
  detail::for_each_column_block(N, C, S, [&](index_t base, index_t len) {
    detail::Column<T> dot_storage;
    auto dot = dot_storage.head(len);
    dot.setZero();
    for (index_t c = 0; c < C; ++c) {
      ConstArrayMap<T> g(dy + base + c * S, len);
      if (log_space)
        dot += g;
      else
        dot += g * ConstArrayMap<T>(y + base + c * S, len);
    }
    for (index_t c = 0; c < C; ++c) {
      ConstArrayMap<T> g(dy + base + c * S, len), out(y + base + c * S, len);
      ArrayMap<T> d(dx + base + c * S, len);
      if (log_space)
        d = g - out.exp() * dot;
      else
        d = out * (g - dot);
    }
  });
}

}  // namespace cae::kernels
