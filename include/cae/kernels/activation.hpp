// Element-wise activation kernels. Each backward takes the forward's output y
// (or input x where y is not enough) and the upstream gradient dy.
// All arrays hold n elements.
#pragma once

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "cae/parallel.hpp"
#include "cae/shape.hpp"

namespace cae::kernels {

// NaN goes through every activation as in PyTorch 1.13, so a diverging
// network shows up in the loss instead of being masked: checked against torch
// in tests/test_activation.cpp.

// y = max(x, 0), written as PyTorch's clamp_min(x, 0): x < 0 is false for NaN,
// so NaN passes through (and -0 stays -0); `x > 0 ? x : 0` would turn NaN into 0.
template <typename T>
void relu_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] < T(0) ? T(0) : x[i];
}
// dx = 0 where y <= 0, else dy: PyTorch's threshold_backward(dy, y, 0). Its
// choices: gradient 0 at 0, and dy (not 0) where y is NaN, since NaN <= 0 is false.
template <typename T>
void relu_backward(T* dx, const T* dy, const T* y, index_t n) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = y[i] <= T(0) ? T(0) : dy[i];
}

// y = x if x > 0 else slope * x (NaN takes the second branch and stays NaN)
template <typename T>
void leaky_relu_forward(T* y, const T* x, index_t n, T slope) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}
// dx = dy where x > 0, else slope * dy (slope * dy at a NaN input, as PyTorch)
template <typename T>
void leaky_relu_backward(T* dx, const T* dy, const T* x, index_t n, T slope) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i];
}

// y = 1 / (1 + exp(-x)), written so that neither branch overflows: with
// e = exp(-|x|) in (0, 1], y = 1 / (1 + e) for x >= 0 and e / (1 + e) below.
// exp() is Eigen's vectorized one (within an ulp or two of std::exp, as
// PyTorch's own vectorized sigmoid), on blocks that threads share.
template <typename T>
void sigmoid_forward(T* y, const T* x, index_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  constexpr index_t kBlock = 4096;
  const index_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t k = 0; k < blocks; ++k) {
    const index_t b = k * kBlock, len = std::min(kBlock, n - b);
    const Eigen::Map<const Array> in(x + b, len);
    Eigen::Map<Array> out(y + b, len);
    out = (-in.abs()).exp();  // e, then the quotient in place
    out = (in >= T(0)).select(T(1) / (T(1) + out), out / (T(1) + out));
  }
}
// dx = dy * y * (1 - y)
template <typename T>
void sigmoid_backward(T* dx, const T* dy, const T* y, index_t n) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}

// y = tanh(x)
template <typename T>
void tanh_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
// dx = dy * (1 - y^2)
template <typename T>
void tanh_backward(T* dx, const T* dy, const T* y, index_t n) {
#pragma omp parallel for simd schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}

}  // namespace cae::kernels
