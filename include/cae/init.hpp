// Weight initialization, with torch.nn.init's formulas and names.
//
// fan_in/fan_out follow PyTorch: for a weight [a, b, kh, kw], fan_in = b*kh*kw
// and fan_out = a*kh*kw (so ConvTranspose2d's [in, out, kh, kw] weight gets
// fan_in = out*kh*kw, exactly as PyTorch computes it).
#pragma once

#include <cmath>
#include <string>
#include <utility>

#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::init {

enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU };

// torch.nn.init.calculate_gain
inline double gain(Nonlinearity f, double negative_slope = 0.01) {
  switch (f) {
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + negative_slope * negative_slope));
    default: return 1.0;
  }
}

template <typename T>
std::pair<index_t, index_t> fans(const Tensor<T>& w) {
  CAE_CHECK(w.rank() >= 2, ShapeError, "init: fan in/out needs a weight of rank >= 2, got ",
            w.shape());
  index_t receptive = 1;
  for (int i = 2; i < w.rank(); ++i) receptive *= w.dim(i);
  return {w.dim(1) * receptive, w.dim(0) * receptive};
}

template <typename T>
void uniform_(Tensor<T>& w, double low, double high, Rng& rng = global_rng()) {
  w.fill_uniform(rng, static_cast<T>(low), static_cast<T>(high));
}
template <typename T>
void normal_(Tensor<T>& w, double mean, double stddev, Rng& rng = global_rng()) {
  w.fill_normal(rng, static_cast<T>(mean), static_cast<T>(stddev));
}

// He initialization. `a` is the negative slope of the leaky ReLU that follows.
template <typename T>
void kaiming_uniform_(Tensor<T>& w, double a = 0, bool fan_in_mode = true,
                      Nonlinearity f = Nonlinearity::LeakyReLU, Rng& rng = global_rng()) {
  const auto [fan_in, fan_out] = fans(w);
  const double stddev = gain(f, a) / std::sqrt(double(fan_in_mode ? fan_in : fan_out));
  const double bound = std::sqrt(3.0) * stddev;
  uniform_(w, -bound, bound, rng);
}
template <typename T>
void kaiming_normal_(Tensor<T>& w, double a = 0, bool fan_in_mode = true,
                     Nonlinearity f = Nonlinearity::LeakyReLU, Rng& rng = global_rng()) {
  const auto [fan_in, fan_out] = fans(w);
  normal_(w, 0.0, gain(f, a) / std::sqrt(double(fan_in_mode ? fan_in : fan_out)), rng);
}

// Glorot initialization.
template <typename T>
void xavier_uniform_(Tensor<T>& w, double g = 1.0, Rng& rng = global_rng()) {
  const auto [fan_in, fan_out] = fans(w);
  const double bound = g * std::sqrt(6.0 / double(fan_in + fan_out));
  uniform_(w, -bound, bound, rng);
}
template <typename T>
void xavier_normal_(Tensor<T>& w, double g = 1.0, Rng& rng = global_rng()) {
  const auto [fan_in, fan_out] = fans(w);
  normal_(w, 0.0, g * std::sqrt(2.0 / double(fan_in + fan_out)), rng);
}

// What torch.nn.Linear / Conv2d / ConvTranspose2d do in reset_parameters():
// kaiming_uniform_(a=sqrt(5)) on the weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// and the bias from the same bound.
template <typename T>
void torch_default_(Tensor<T>& weight, Tensor<T>* bias, Rng& rng = global_rng()) {
  kaiming_uniform_(weight, std::sqrt(5.0), true, Nonlinearity::LeakyReLU, rng);
  if (bias && bias->numel()) {
    const index_t fan_in = fans(weight).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
    uniform_(*bias, -bound, bound, rng);
  }
}

}  // namespace cae::init
