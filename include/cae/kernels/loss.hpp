// Loss kernels, reduction 'mean' as PyTorch's default. Each *_forward returns
// the mean loss (summed in double, in a fixed order); each *_backward writes
// d(mean loss)/d(prediction). Element-wise losses take n-element arrays.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "cae/kernels/softmax.hpp"
#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

// pred, target: [n]. mean((pred - target)^2)
template <typename T>
double mse_loss_forward(const T* pred, const T* target, index_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (index_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    sum += d * d;
  }
  return sum / static_cast<double>(n);
}
// dpred = 2 (pred - target) / n
template <typename T>
void mse_loss_backward(T* dpred, const T* pred, const T* target, index_t n) {
  const T scale = static_cast<T>(2.0 / static_cast<double>(n));
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dpred[i] = scale * (pred[i] - target[i]);
}

namespace detail {
// The gradient below for n elements of a mean over `count`, on the calling thread.
template <typename T>
void bce_gradient(T* dpred, const T* pred, const T* target, index_t n, index_t count) {
  const T inv_n = static_cast<T>(1.0 / static_cast<double>(count));
  const T floor = static_cast<T>(1e-12f);
#pragma omp simd
  for (index_t i = 0; i < n; ++i)
    dpred[i] = (pred[i] - target[i]) / std::max((T(1) - pred[i]) * pred[i], floor) * inv_n;
}
}  // namespace detail

// dpred = (pred - target) / max(pred (1 - pred), 1e-12) / n: PyTorch's formula,
// whose floor keeps the gradient finite at pred = 0 or 1. PyTorch's floor is
// the float 1e-12f (9.99999996e-13), also for double; so is ours.
template <typename T>
void bce_loss_backward(T* dpred, const T* pred, const T* target, index_t n) {
  constexpr index_t kBlock = 16384;
  const index_t blocks = (n + kBlock - 1) / kBlock;
  if (n <= kElementwiseGrain) return detail::bce_gradient(dpred, pred, target, n, n);
#pragma omp parallel for schedule(static)
  for (index_t k = 0; k < blocks; ++k) {
    const index_t b = k * kBlock;
    detail::bce_gradient(dpred + b, pred + b, target + b, std::min(kBlock, n - b), n);
  }
}

// pred (probabilities in [0, 1]), target: [n].
// mean(-(target * log(pred) + (1 - target) * log1p(-pred))), each log clamped
// at -100 as PyTorch does, so a confident wrong 0 or 1 costs 100, not infinity.
// Each term is computed in T with Eigen's vectorized log and log1p (PyTorch's
// float kernel computes its terms in float too); the terms are summed in double,
// block by block in a fixed order, so the result does not depend on the thread
// count. Returns NaN when some prediction is outside [0, 1] or NaN, which the
// caller reports (BCELoss names the element).
// dpred: null, or [n] to receive bce_loss_backward's gradient in the same pass
// (one read of pred and target instead of two: the loss is memory-bound).
template <typename T>
double bce_loss_forward(const T* pred, const T* target, index_t n, T* dpred = nullptr) {
  constexpr index_t kBlock = 1024;     // terms evaluated at once, on the stack
  constexpr index_t kMaxChunks = 1024; // partial sums, on the stack
  const index_t chunk = std::max<index_t>(16 * kBlock, (n + kMaxChunks - 1) / kMaxChunks);
  const index_t chunks = (n + chunk - 1) / chunk;
  double partial[kMaxChunks];
  bool invalid[kMaxChunks];
  auto run_chunk = [&](index_t k) {
    alignas(64) T terms[kBlock];
    double sum = 0;
    bool bad = false;
    const index_t end = std::min(n, (k + 1) * chunk);
    for (index_t b = k * chunk; b < end; b += kBlock) {
      const index_t len = std::min(kBlock, end - b);
      const detail::ConstArrayMap<T> p(pred + b, len), t(target + b, len);
#pragma omp simd reduction(|| : bad)
      for (index_t i = 0; i < len; ++i) bad = bad || !(p[i] >= T(0) && p[i] <= T(1));
      detail::ArrayMap<T>(terms, len) =
          -(t * p.log().max(T(-100)) + (T(1) - t) * (-p).log1p().max(T(-100)));
      if (dpred) detail::bce_gradient(dpred + b, pred + b, target + b, len, n);
#pragma omp simd reduction(+ : sum)
      for (index_t i = 0; i < len; ++i) sum += static_cast<double>(terms[i]);
    }
    partial[k] = sum;
    invalid[k] = bad;
  };
  // Small inputs stay out of OpenMP altogether: even a region whose `if` is
  // false costs the runtime a team allocation.
  if (n > kElementwiseGrain) {
#pragma omp parallel for schedule(static)
    for (index_t k = 0; k < chunks; ++k) run_chunk(k);
  } else {
    for (index_t k = 0; k < chunks; ++k) run_chunk(k);
  }
  double total = 0;
  for (index_t k = 0; k < chunks; ++k) {
    if (invalid[k]) return std::numeric_limits<double>::quiet_NaN();
    total += partial[k];
  }
  return total / static_cast<double>(n);
}

// logits, target: [n]. BCE of sigmoid(logits), written as
// max(x, 0) - x t + log(1 + exp(-|x|)) so that no exp() overflows for any x.
template <typename T>
double bce_with_logits_loss_forward(const T* logits, const T* target, index_t n) {
  double sum = 0;
  for (index_t i = 0; i < n; ++i) {
    const double x = logits[i], t = target[i];
    sum += std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
  }
  return sum / static_cast<double>(n);
}
// dlogits = (sigmoid(x) - target) / n
template <typename T>
void bce_with_logits_loss_backward(T* dlogits, const T* logits, const T* target, index_t n) {
  const T inv_n = static_cast<T>(1.0 / static_cast<double>(n));
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T x = logits[i];
    const T e = std::exp(-std::abs(x));  // in (0, 1]: the stable branch of the sigmoid
    const T sigmoid = x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    dlogits[i] = (sigmoid - target[i]) * inv_n;
  }
}

// logits, log_probs: [N, C, S]; target: [N, S] holding class indices (already
// validated). Writes log_softmax(logits) over C and returns
// mean over (n, s) of -log_probs[n, target[n, s], s].
template <typename T>
double cross_entropy_loss_forward(T* log_probs, const T* logits, const T* target, index_t N,
                                  index_t C, index_t S) {
  softmax_forward(log_probs, logits, N, C, S, /*log_space=*/true);
  double sum = 0;
  for (index_t n = 0; n < N; ++n)
    for (index_t s = 0; s < S; ++s)
      sum -= log_probs[(n * C + static_cast<index_t>(target[n * S + s])) * S + s];
  return sum / static_cast<double>(N * S);
}
// dlogits: [N, C, S], may alias log_probs (updated in place).
// dlogits = (softmax(logits) - one_hot(target)) / (N S)
template <typename T>
void cross_entropy_loss_backward(T* dlogits, const T* log_probs, const T* target, index_t N,
                                 index_t C, index_t S) {
  const T inv_count = static_cast<T>(1.0 / static_cast<double>(N * S));
#pragma omp parallel for schedule(static) if (N * C * S > 32768)
  for (index_t n = 0; n < N; ++n) {
    detail::ArrayMap<T>(dlogits + n * C * S, C * S) =
        detail::ConstArrayMap<T>(log_probs + n * C * S, C * S).exp() * inv_count;
    for (index_t s = 0; s < S; ++s)
      dlogits[(n * C + static_cast<index_t>(target[n * S + s])) * S + s] -= inv_count;
  }
}

}  // namespace cae::kernels
