// Loss kernels, reduction 'mean' as PyTorch's default. Each *_forward returns
// the mean loss (summed in double, in a fixed order); each *_backward writes
// d(mean loss)/d(prediction). Element-wise losses take n-element arrays.
#pragma once

#include <algorithm>
#include <cmath>

#include "cae/kernels/softmax.hpp"
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
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (index_t i = 0; i < n; ++i) dpred[i] = scale * (pred[i] - target[i]);
}

// pred (probabilities in [0, 1]), target: [n].
// mean(-(target * log(pred) + (1 - target) * log(1 - pred))), each log clamped
// at -100 as PyTorch does, so a confident wrong 0 or 1 costs 100, not infinity.
template <typename T>
double bce_loss_forward(const T* pred, const T* target, index_t n) {
  double sum = 0;
  for (index_t i = 0; i < n; ++i) {
    const double p = pred[i], t = target[i];
    sum -= t * std::max(std::log(p), -100.0) + (1 - t) * std::max(std::log1p(-p), -100.0);
  }
  return sum / static_cast<double>(n);
}
// dpred = (pred - target) / max(pred (1 - pred), 1e-12) / n: PyTorch's formula,
// whose floor keeps the gradient finite at pred = 0 or 1. PyTorch's floor is
// the float 1e-12f (9.99999996e-13), also for double; so is ours.
template <typename T>
void bce_loss_backward(T* dpred, const T* pred, const T* target, index_t n) {
  const T inv_n = static_cast<T>(1.0 / static_cast<double>(n));
  const T floor = static_cast<T>(1e-12f);
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (index_t i = 0; i < n; ++i)
    dpred[i] = (pred[i] - target[i]) / std::max((T(1) - pred[i]) * pred[i], floor) * inv_n;
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
#pragma omp parallel for schedule(static) if (n > 32768)
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
