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


// ---------------------------------------------------------------------------
// The activations of modern image models, each as ATen 1.13 computes it on the
// CPU (aten/src/ATen/native/cpu/Activation.cpp), expression for expression, so
// that rounding, overflow and the special values come out as PyTorch's:
// checked against torch in tests/test_activation.cpp, at NaN and +-inf too.
// PyTorch's vectorized loop and its scalar loop (the last few elements of a
// tensor) disagree for a few backwards at a NaN or kink; where they do, cae
// follows the vectorized loop, which is what almost every element sees.
// std:: math functions rather than Eigen's vectorized ones: Eigen's float
// exp() clamps its argument, where PyTorch's overflows to inf.

// GELU, approximate="none": y = x * Phi(x), Phi the standard normal CDF
// = 0.5 * (1 + erf(x / sqrt(2))). GELU(-inf) is NaN (-inf * 0), as in PyTorch.
template <typename T>
void gelu_forward(T* y, const T* x, index_t n) {
  constexpr T kAlpha = T(M_SQRT1_2);
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] * T(0.5) * (T(1) + std::erf(x[i] * kAlpha));
}
// dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density
template <typename T>
void gelu_backward(T* dx, const T* dy, const T* x, index_t n) {
  constexpr T kAlpha = T(M_SQRT1_2);
  constexpr T kBeta = T(M_2_SQRTPI * M_SQRT1_2 * 0.5);  // 1 / sqrt(2 pi)
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * kAlpha));
    const T pdf = kBeta * std::exp(x[i] * x[i] * T(-0.5));
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

// GELU, approximate="tanh": y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
template <typename T>
void gelu_tanh_forward(T* y, const T* x, index_t n) {
  constexpr T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5);  // sqrt(2 / pi)
  constexpr T kKappa = T(0.044715);
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T cube = x[i] * x[i] * x[i];
    const T inner = kBeta * (x[i] + kKappa * cube);
    y[i] = T(0.5) * x[i] * (T(1) + std::tanh(inner));
  }
}
// dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2 / pi) (1 + 3 * 0.044715 x^2)),
// t = tanh(inner); in float x^3 overflows for |x| > ~7e12 and the product
// 0 * inf gives NaN there, as in PyTorch.
template <typename T>
void gelu_tanh_backward(T* dx, const T* dy, const T* x, index_t n) {
  constexpr T kBeta = T(M_SQRT2 * M_2_SQRTPI * 0.5);
  constexpr T kKappa = T(0.044715);
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T square = x[i] * x[i];
    const T cube = square * x[i];
    const T inner = kBeta * (x[i] + kKappa * cube);
    const T t = std::tanh(inner);
    const T left = T(0.5) * x[i];
    const T right = T(1) + t;
    const T left_derivative = T(0.5) * right;
    const T right_derivative = left * (T(1) - t * t) * kBeta * (T(1) + T(3) * kKappa * square);
    dx[i] = dy[i] * (left_derivative + right_derivative);
  }
}

// SiLU (swish): y = x / (1 + exp(-x)); SiLU(-inf) is NaN (-inf / inf), as in PyTorch.
template <typename T>
void silu_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] / (T(1) + std::exp(-x[i]));
}
// dx = dy * s * (1 + x (1 - s)), s = sigmoid(x)
template <typename T>
void silu_backward(T* dx, const T* dy, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-x[i]));
    dx[i] = dy[i] * s * (T(1) + x[i] * (T(1) - s));
  }
}

// ELU and SELU, ATen's elu(x, alpha, scale, input_scale = 1):
//   y = x * scale                       for x > 0
//   y = (exp(x) - 1) * alpha * scale    otherwise (NaN included)
// exp(x) - 1 rather than expm1(x), as PyTorch: ELU(-0) is +0 and ELU(-1e-20) is 0.
// ELU: scale = 1; SELU: alpha and scale below.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

template <typename T>
void elu_forward(T* y, const T* x, index_t n, T alpha, T scale) {
  const T negative = alpha * scale;
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] * scale : (std::exp(x[i]) - T(1)) * negative;
}
// dx = dy * scale for x > 0, else dy * alpha * scale * exp(x): NaN at a NaN
// input (PyTorch's vectorized loop; its scalar tail gives dy * scale).
template <typename T>
void elu_backward(T* dx, const T* dy, const T* x, index_t n, T alpha, T scale) {
  const T negative = alpha * scale;
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > T(0) ? dy[i] * scale : dy[i] * negative * std::exp(x[i]);
}

// Softplus: y = log(1 + exp(beta x)) / beta, and y = x where beta x > threshold
// (where the two agree to rounding and exp() would overflow).
template <typename T>
void softplus_forward(T* y, const T* x, index_t n, T beta, T threshold) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i)
    y[i] = x[i] * beta > threshold ? x[i] : std::log1p(std::exp(x[i] * beta)) / beta;
}
// dx = dy * z / (z + 1), z = exp(beta x) (= dy * sigmoid(beta x)); dy where beta x > threshold
template <typename T>
void softplus_backward(T* dx, const T* dy, const T* x, index_t n, T beta, T threshold) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T z = std::exp(x[i] * beta);
    dx[i] = x[i] * beta > threshold ? dy[i] : dy[i] * z / (z + T(1));
  }
}

// Hardswish: y = x * min(max(x + 3, 0), 6) / 6. The max and min keep a NaN
// (written as comparisons that do, unlike std::max / std::min with NaN second).
template <typename T>
void hardswish_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    T r = x[i] + T(3);
    r = r < T(0) ? T(0) : r;
    r = r > T(6) ? T(6) : r;
    y[i] = x[i] * r / T(6);
  }
}
// dx = 0 for x < -3, dy for x >= 3, else dy * (x / 3 + 0.5). At x = 3 this
// gives dy and at a NaN input NaN, as PyTorch's vectorized loop (its scalar
// tail gives 1.5 dy and dy there).
template <typename T>
void hardswish_backward(T* dx, const T* dy, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i)
    dx[i] = x[i] < T(-3) ? T(0) : x[i] >= T(3) ? dy[i] : dy[i] * (x[i] / T(3) + T(0.5));
}

// Hardsigmoid: y = min(max(x + 3, 0), 6) / 6, NaN kept as in hardswish_forward.
template <typename T>
void hardsigmoid_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    T r = x[i] + T(3);
    r = r < T(0) ? T(0) : r;
    r = r > T(6) ? T(6) : r;
    y[i] = r / T(6);
  }
}
// dx = dy / 6 strictly inside (-3, 3), else 0 (a NaN input included, as PyTorch).
// The factor is PyTorch's 1.0f / 6.0f, a float constant also in double
// (1/6 to 3e-8), so double gradients agree with PyTorch's to the last bits.
template <typename T>
void hardsigmoid_backward(T* dx, const T* dy, const T* x, index_t n) {
  const T one_sixth = static_cast<T>(1.0f / 6.0f);
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) dx[i] = x[i] > T(-3) && x[i] < T(3) ? dy[i] * one_sixth : T(0);
}

// Mish: y = x * tanh(log1p(exp(x))) (no softplus threshold, as in PyTorch).
template <typename T>
void mish_forward(T* y, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) y[i] = x[i] * std::tanh(std::log1p(std::exp(x[i])));
}
// dx = dy * (t + x * s * (1 - t^2)), t = tanh(softplus(x)), s = sigmoid(x)
template <typename T>
void mish_backward(T* dx, const T* dy, const T* x, index_t n) {
#pragma omp parallel for schedule(static) if (n > kElementwiseGrain)
  for (index_t i = 0; i < n; ++i) {
    const T s = T(1) / (T(1) + std::exp(-x[i]));
    const T t = std::tanh(std::log1p(std::exp(x[i])));
    dx[i] = dy[i] * (t + x[i] * s * (T(1) - t * t));
  }
}

// PReLU: y = x for x > 0, else weight[c] * x, c the channel (dimension 1).
//   x, y: [N, C, S] (S the product of the dimensions after C; 1 for [N, C])
//   weight: [num_weights], num_weights 1 (one slope shared) or C
template <typename T>
void prelu_forward(T* y, const T* x, const T* weight, index_t num_weights, index_t N, index_t C,
                   index_t S) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * S > kElementwiseGrain)
  for (index_t b = 0; b < N; ++b)
    for (index_t c = 0; c < C; ++c) {
      const T w = weight[num_weights == 1 ? 0 : c];
      const T* xp = x + (b * C + c) * S;
      T* yp = y + (b * C + c) * S;
      for (index_t s = 0; s < S; ++s) yp[s] = xp[s] > T(0) ? xp[s] : w * xp[s];
    }
}
// dx, dy, x: [N, C, S]; weight, dweight: [num_weights];
// plane_sums: [N * C], the caller's scratch.
//   dx = dy for x > 0, else weight[c] * dy        (dx may be null: not computed)
//   dweight[c] += sum over n, s of (x > 0 ? 0 : x * dy)   (NaN where an x is NaN)
// Each (n, c) plane's sum is taken in one thread in order and the planes are
// then added in order of n, so dweight does not depend on the thread count.
template <typename T>
void prelu_backward(T* dx, T* dweight, T* plane_sums, const T* dy, const T* x, const T* weight,
                    index_t num_weights, index_t N, index_t C, index_t S) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * S > kElementwiseGrain)
  for (index_t b = 0; b < N; ++b)
    for (index_t c = 0; c < C; ++c) {
      const T w = weight[num_weights == 1 ? 0 : c];
      const index_t base = (b * C + c) * S;
      T sum = 0;
      for (index_t s = 0; s < S; ++s) {
        const T xv = x[base + s], g = dy[base + s];
        sum += xv > T(0) ? T(0) : xv * g;
        if (dx) dx[base + s] = xv > T(0) ? g : w * g;
      }
      plane_sums[b * C + c] = sum;
    }
  for (index_t c = 0; c < C; ++c) {
    T sum = 0;
    for (index_t b = 0; b < N; ++b) sum += plane_sums[b * C + c];
    dweight[num_weights == 1 ? 0 : c] += sum;
  }
}

}  // namespace cae::kernels
