// Softmax and LogSoftmax over dimension 1 (classes of [N, C] logits, channels
// of [N, C, H, W] maps), like torch.nn.Softmax(dim=1) / LogSoftmax(dim=1).
// For training a classifier prefer CrossEntropyLoss on the raw logits, which
// fuses LogSoftmax with the negative log-likelihood.
#pragma once

#include <string>

#include "cae/kernels/softmax.hpp"
#include "cae/module.hpp"

namespace cae {

namespace detail {

template <typename T>
class SoftmaxBase : public Module<T> {
 public:
  std::string describe() const override {
    return str(log_space_ ? "LogSoftmax" : "Softmax", "(dim=", dim_, ")");
  }
  Shape build(const Shape& input) override {
    CAE_CHECK(input.rank() >= 1, ShapeError, describe(),
              ": expected input [N, C, ...] with a class dimension, got per-sample shape ", input);
    return input;
  }
  const Tensor<T>& forward(const Tensor<T>& x) override {
    CAE_CHECK(x.rank() >= 2, ShapeError, describe(),
              ": expected input [N, C, ...] with a class dimension, got shape ", x.shape());
    const index_t N = x.dim(0), C = x.dim(1), S = x.numel() / std::max<index_t>(N * C, 1);
    y_.resize(x.shape());
    kernels::softmax_forward(y_.data(), x.data(), N, C, S, log_space_);
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_output(dy, y_);
    if (!this->input_grad_) return this->no_input_gradient();
    const index_t N = dy.dim(0), C = dy.dim(1), S = dy.numel() / std::max<index_t>(N * C, 1);
    dx_.resize(dy.shape());
    kernels::softmax_backward(dx_.data(), dy.data(), y_.data(), N, C, S, log_space_);
    return dx_;
  }

 protected:
  SoftmaxBase(int dim, bool log_space) : dim_(dim), log_space_(log_space) {
    CAE_CHECK(dim == 1, Error, describe(),
              ": only dim=1 (the class / channel dimension) is supported");
  }

 private:
  int dim_;
  bool log_space_;
  Tensor<T> y_, dx_;
};

}  // namespace detail

// y = exp(x) / sum_c exp(x) over dimension 1, computed without overflow.
template <typename T>
class Softmax : public detail::SoftmaxBase<T> {
 public:
  explicit Softmax(int dim = 1) : detail::SoftmaxBase<T>(dim, false) {}
};

// y = x - log(sum_c exp(x)) over dimension 1, computed without overflow.
template <typename T>
class LogSoftmax : public detail::SoftmaxBase<T> {
 public:
  explicit LogSoftmax(int dim = 1) : detail::SoftmaxBase<T>(dim, true) {}
};

}  // namespace cae
