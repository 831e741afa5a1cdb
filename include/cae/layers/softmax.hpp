// Softmax and LogSoftmax over any dimension, like torch.nn.Softmax(dim) /
// LogSoftmax(dim). dim counts the batch dimension, as in PyTorch: 1 (the
// default) is the classes of [N, C] logits or the channels of [N, C, H, W]
// maps; -1 is the last dimension (a row of an attention map); 0 the batch.
// Negative dims count from the end of the input's full shape.
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
  int dim() const { return dim_; }
  Shape build(const Shape& input) override {
    resolved_dim(input, true);
    return input;
  }
  const Tensor<T>& forward(const Tensor<T>& x) override {
    view_as_outer_c_inner(x.shape());
    y_.resize(x.shape());
    kernels::softmax_forward(y_.data(), x.data(), outer_, classes_, inner_, log_space_);
    return y_;
  }
  const Tensor<T>& backward(const Tensor<T>& dy) override {
    this->check_grad_output(dy, y_);
    if (!this->input_grad_) return this->no_input_gradient();
    dx_.resize(dy.shape());
    kernels::softmax_backward(dx_.data(), dy.data(), y_.data(), outer_, classes_, inner_, log_space_);
    return dx_;
  }

 protected:
  SoftmaxBase(int dim, bool log_space) : dim_(dim), log_space_(log_space) {}

 private:
  // dim as an index into the input's full shape (batch included; `shape` is
  // per-sample when batch_missing); throws ShapeError naming the layer, with
  // PyTorch's valid range, if it is out of range.
  int resolved_dim(const Shape& shape, bool batch_missing) const {
    const int rank = shape.rank() + (batch_missing ? 1 : 0);
    CAE_CHECK(rank >= 1 && dim_ >= -rank && dim_ < rank, ShapeError, describe(), ": dim ", dim_,
              " is out of range for input ", batch_missing ? batch_shape_str(shape) : shape.str(),
              " (expected a dim in [", -rank, ", ", rank - 1, "])");
    return dim_ < 0 ? dim_ + rank : dim_;
  }
  // The input seen by the kernels as [outer, C, inner]: C the softmax
  // dimension, outer and inner the products of the dimensions before and after it.
  void view_as_outer_c_inner(const Shape& shape) {
    const int d = resolved_dim(shape, false);
    outer_ = classes_ = inner_ = 1;
    for (int i = 0; i < shape.rank(); ++i)
      (i < d ? outer_ : i == d ? classes_ : inner_) *= shape[i];
  }

  int dim_;
  bool log_space_;
  index_t outer_ = 0, classes_ = 0, inner_ = 0;
  Tensor<T> y_, dx_;
};

}  // namespace detail

// y = exp(x) / sum exp(x) over dimension dim, computed without overflow.
template <typename T>
class Softmax : public detail::SoftmaxBase<T> {
 public:
  explicit Softmax(int dim = 1) : detail::SoftmaxBase<T>(dim, false) {}
};

// y = x - log(sum exp(x)) over dimension dim, computed without overflow.
template <typename T>
class LogSoftmax : public detail::SoftmaxBase<T> {
 public:
  explicit LogSoftmax(int dim = 1) : detail::SoftmaxBase<T>(dim, true) {}
};

}  // namespace cae
