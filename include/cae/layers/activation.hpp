// Element-wise activation layers: ReLU, LeakyReLU, Sigmoid, Tanh, and those of
// modern image models: GELU (approximate "none" / "tanh"), SiLU, ELU, SELU,
// Softplus, Hardswish, Hardsigmoid, Mish, PReLU (learned slopes), with
// torch.nn's names, defaults and reprs:
//
//   GELU<float> gelu(GELUOptions().approximate("tanh"));
//   ELU<float> elu(ELUOptions().alpha(0.5));        // or ELU<float>(0.5)
//   Softplus<float> sp(SoftplusOptions().beta(2).threshold(10));
//   PReLU<float> prelu(PReLUOptions().num_parameters(16).init(0.25));
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cae/kernels/activation.hpp"
#include "cae/module.hpp"

namespace cae {

namespace activation_detail {
// A double as Python's repr prints it ("1.0", "0.01"), for reprs of float options.
inline std::string py_float(double v) {
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}
// A number as Python prints an option given as int when integral ("20"), else as float.
inline std::string py_number(double v) {
  return v == static_cast<double>(static_cast<long long>(v)) ? std::to_string(static_cast<long long>(v))
                                                             : py_float(v);
}
}  // namespace activation_detail

// Shared plumbing of the element-wise layers: shape passes through, the
// output buffer is reused, and the kernel pair does the work.
template <typename T, typename Derived>
class ElementwiseLayer : public Module<T> {
 public:
  Shape build(const Shape& input) override { return input; }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    this->remember_input(x);
    y_.resize(x.shape());
    static_cast<Derived*>(this)->kernel_forward(y_.data(), x.data(), x.numel());
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    if (!this->input_grad()) return this->no_input_gradient();
    dx_.resize(dy.shape());
    static_cast<Derived*>(this)->kernel_backward(dx_.data(), dy.data(), y_.data(), x.data(),
                                                 dy.numel());
    return dx_;
  }

 private:
  Tensor<T> y_, dx_;
};

template <typename T>
class ReLU : public ElementwiseLayer<T, ReLU<T>> {
 public:
  std::string describe() const override { return "ReLU()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::relu_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::relu_backward(dx, dy, y, n);
  }
};

template <typename T>
class LeakyReLU : public ElementwiseLayer<T, LeakyReLU<T>> {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(static_cast<T>(negative_slope)) {}
  std::string describe() const override { return str("LeakyReLU(negative_slope=", slope_, ")"); }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::leaky_relu_forward(y, x, n, slope_); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::leaky_relu_backward(dx, dy, x, n, slope_);
  }

 private:
  T slope_;
};

template <typename T>
class Sigmoid : public ElementwiseLayer<T, Sigmoid<T>> {
 public:
  std::string describe() const override { return "Sigmoid()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::sigmoid_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::sigmoid_backward(dx, dy, y, n);
  }
};

template <typename T>
class Tanh : public ElementwiseLayer<T, Tanh<T>> {
 public:
  std::string describe() const override { return "Tanh()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::tanh_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T* y, const T*, index_t n) {
    kernels::tanh_backward(dx, dy, y, n);
  }
};


class GELUOptions {
 public:
  // "none": the exact x * Phi(x); "tanh": the tanh approximation.
  GELUOptions& approximate(std::string a) {
    approximate_ = std::move(a);
    return *this;
  }
  const std::string& approximate() const { return approximate_; }

 private:
  std::string approximate_ = "none";
};

template <typename T>
class GELU : public ElementwiseLayer<T, GELU<T>> {
 public:
  explicit GELU(const GELUOptions& options = {}) : tanh_(options.approximate() == "tanh") {
    CAE_CHECK(options.approximate() == "none" || options.approximate() == "tanh", Error,
              "GELU: approximate must be 'none' or 'tanh', got '", options.approximate(), "'");
  }
  std::string describe() const override {
    return str("GELU(approximate='", tanh_ ? "tanh" : "none", "')");
  }
  void kernel_forward(T* y, const T* x, index_t n) {
    tanh_ ? kernels::gelu_tanh_forward(y, x, n) : kernels::gelu_forward(y, x, n);
  }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    tanh_ ? kernels::gelu_tanh_backward(dx, dy, x, n) : kernels::gelu_backward(dx, dy, x, n);
  }

 private:
  bool tanh_;
};

template <typename T>
class SiLU : public ElementwiseLayer<T, SiLU<T>> {
 public:
  std::string describe() const override { return "SiLU()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::silu_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::silu_backward(dx, dy, x, n);
  }
};

class ELUOptions {
 public:
  ELUOptions& alpha(double a) {
    alpha_ = a;
    return *this;
  }
  double alpha() const { return alpha_; }

 private:
  double alpha_ = 1.0;
};

template <typename T>
class ELU : public ElementwiseLayer<T, ELU<T>> {
 public:
  explicit ELU(const ELUOptions& options = {}) : alpha_(options.alpha()) {
    CAE_CHECK(std::isfinite(alpha_), Error, "ELU: alpha must be finite, got ", alpha_);
  }
  explicit ELU(double alpha) : ELU(ELUOptions().alpha(alpha)) {}
  std::string describe() const override {
    return "ELU(alpha=" + activation_detail::py_float(alpha_) + ")";
  }
  void kernel_forward(T* y, const T* x, index_t n) {
    kernels::elu_forward(y, x, n, static_cast<T>(alpha_), T(1));
  }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::elu_backward(dx, dy, x, n, static_cast<T>(alpha_), T(1));
  }

 private:
  double alpha_;
};

// SELU: scale * ELU(x, alpha) with Klambauer et al.'s fixed alpha and scale.
template <typename T>
class SELU : public ElementwiseLayer<T, SELU<T>> {
 public:
  std::string describe() const override { return "SELU()"; }
  void kernel_forward(T* y, const T* x, index_t n) {
    kernels::elu_forward(y, x, n, static_cast<T>(kernels::kSeluAlpha), static_cast<T>(kernels::kSeluScale));
  }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::elu_backward(dx, dy, x, n, static_cast<T>(kernels::kSeluAlpha),
                          static_cast<T>(kernels::kSeluScale));
  }
};

class SoftplusOptions {
 public:
  SoftplusOptions& beta(double b) {
    beta_ = b;
    return *this;
  }
  // Above beta * x > threshold the layer is the identity.
  SoftplusOptions& threshold(double t) {
    threshold_ = t;
    return *this;
  }
  double beta() const { return beta_; }
  double threshold() const { return threshold_; }

 private:
  double beta_ = 1, threshold_ = 20;
};

template <typename T>
class Softplus : public ElementwiseLayer<T, Softplus<T>> {
 public:
  explicit Softplus(const SoftplusOptions& options = {}) : options_(options) {
    // PyTorch divides by beta unchecked; beta = 0 would give NaN everywhere.
    CAE_CHECK(std::isfinite(options.beta()) && options.beta() != 0, Error, describe(),
              ": beta must be finite and non-zero");
    CAE_CHECK(!std::isnan(options.threshold()), Error, describe(), ": threshold is NaN");
  }
  std::string describe() const override {
    return "Softplus(beta=" + activation_detail::py_number(options_.beta()) +
           ", threshold=" + activation_detail::py_number(options_.threshold()) + ")";
  }
  void kernel_forward(T* y, const T* x, index_t n) {
    kernels::softplus_forward(y, x, n, static_cast<T>(options_.beta()), static_cast<T>(options_.threshold()));
  }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::softplus_backward(dx, dy, x, n, static_cast<T>(options_.beta()),
                               static_cast<T>(options_.threshold()));
  }

 private:
  SoftplusOptions options_;
};

template <typename T>
class Hardswish : public ElementwiseLayer<T, Hardswish<T>> {
 public:
  std::string describe() const override { return "Hardswish()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::hardswish_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::hardswish_backward(dx, dy, x, n);
  }
};

template <typename T>
class Hardsigmoid : public ElementwiseLayer<T, Hardsigmoid<T>> {
 public:
  std::string describe() const override { return "Hardsigmoid()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::hardsigmoid_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::hardsigmoid_backward(dx, dy, x, n);
  }
};

template <typename T>
class Mish : public ElementwiseLayer<T, Mish<T>> {
 public:
  std::string describe() const override { return "Mish()"; }
  void kernel_forward(T* y, const T* x, index_t n) { kernels::mish_forward(y, x, n); }
  void kernel_backward(T* dx, const T* dy, const T*, const T* x, index_t n) {
    kernels::mish_backward(dx, dy, x, n);
  }
};

class PReLUOptions {
 public:
  // 1: one slope for every channel; C: one per channel (dimension 1 of the input).
  PReLUOptions& num_parameters(index_t n) {
    num_parameters_ = n;
    return *this;
  }
  // The initial slope.
  PReLUOptions& init(double v) {
    init_ = v;
    return *this;
  }
  index_t num_parameters() const { return num_parameters_; }
  double init() const { return init_; }

 private:
  index_t num_parameters_ = 1;
  double init_ = 0.25;
};

// y = x for x > 0, else weight * x, weight learned ("weight", [num_parameters],
// as in PyTorch's state_dict). With num_parameters = C the input's dimension 1
// must have C entries.
template <typename T>
class PReLU : public Module<T> {
 public:
  explicit PReLU(const PReLUOptions& options = {}) : options_(options) {
    CAE_CHECK(options.num_parameters() >= 1, Error, "PReLU: num_parameters must be positive, got ",
              options.num_parameters());
    weight_.resize({options.num_parameters()});
    weight_.fill(static_cast<T>(options.init()));
    init_grad(weight_, weight_grad_);
  }

  std::string describe() const override {
    return str("PReLU(num_parameters=", options_.num_parameters(), ")");
  }
  const PReLUOptions& options() const { return options_; }
  Tensor<T>& weight() { return weight_; }

  Shape build(const Shape& input) override {
    check_channels(input.rank() >= 1 ? input[0] : 1, batch_shape_str(input));
    return input;
  }

  const Tensor<T>& forward(const Tensor<T>& x) override {
    if (this->sample_shape_changed(x)) check_channels(channels(x), x.shape().str());
    this->remember_input(x);
    y_.resize(x.shape());
    const index_t N = x.rank() >= 1 ? x.dim(0) : 1, C = channels(x);
    kernels::prelu_forward(y_.data(), x.data(), weight_.data(), weight_.numel(), N, C,
                           x.numel() / std::max<index_t>(N * C, 1));
    return y_;
  }

  const Tensor<T>& backward(const Tensor<T>& dy) override {
    const Tensor<T>& x = this->saved_input();
    this->check_grad_output(dy, y_);
    const index_t N = x.rank() >= 1 ? x.dim(0) : 1, C = channels(x);
    plane_sums_.resize(static_cast<std::size_t>(N * C));
    T* dx = nullptr;
    if (this->input_grad()) {
      dx_.resize(dy.shape());
      dx = dx_.data();
    }
    kernels::prelu_backward(dx, weight_grad_.data(), plane_sums_.data(), dy.data(), x.data(),
                            weight_.data(), weight_.numel(), N, C,
                            x.numel() / std::max<index_t>(N * C, 1));
    return this->input_grad() ? dx_ : this->no_input_gradient();
  }

  void collect_parameters(const std::string& prefix, std::vector<Parameter<T>>& out) override {
    out.push_back({this->join(prefix, "weight"), &weight_, &weight_grad_});
  }

 private:
  static index_t channels(const Tensor<T>& x) { return x.rank() >= 2 ? x.dim(1) : 1; }
  void check_channels(index_t channels, const std::string& shape) const {
    CAE_CHECK(options_.num_parameters() == 1 || options_.num_parameters() == channels, ShapeError,
              describe(), ": num_parameters must be 1 or the number of input channels (dimension 1), ",
              "got input ", shape, " with ", channels, " channels");
  }

  PReLUOptions options_;
  Tensor<T> weight_, weight_grad_, y_, dx_;
  std::vector<T> plane_sums_;
};

}  // namespace cae
