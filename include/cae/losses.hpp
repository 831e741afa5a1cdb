// The losses: MSELoss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, with
// PyTorch's definitions and reduction='mean'.
//
// forward() computes the loss and, at once, its gradient: the Loss contract
// lets backward() come after the caller's prediction and target are gone, and
// one pass over them is cheaper than keeping copies.
#pragma once

#include <cmath>
#include <string>

#include "cae/kernels/loss.hpp"
#include "cae/loss.hpp"

namespace cae {

namespace detail {

// Shared plumbing of the element-wise losses: equal shapes, gradient buffer.
template <typename T>
class ElementwiseLoss : public Loss<T> {
 public:
  const Tensor<T>& backward() override {
    CAE_CHECK(computed_, Error, this->describe(), ": backward() before forward()");
    return grad_;
  }

 protected:
  void check_shapes(const Tensor<T>& prediction, const Tensor<T>& target) const {
    CAE_CHECK(prediction.shape() == target.shape(), ShapeError, this->describe(),
              ": prediction shape ", prediction.shape(), " and target shape ", target.shape(),
              " differ");
    CAE_CHECK(prediction.numel() > 0, ShapeError, this->describe(), ": empty prediction ",
              prediction.shape());
  }
  Tensor<T>& start(const Tensor<T>& prediction, const Tensor<T>& target) {
    check_shapes(prediction, target);
    grad_.resize(prediction.shape());
    computed_ = true;
    return grad_;
  }

 private:
  Tensor<T> grad_;
  bool computed_ = false;
};

}  // namespace detail

// Mean squared error: mean((prediction - target)^2).
template <typename T>
class MSELoss : public detail::ElementwiseLoss<T> {
 public:
  std::string describe() const override { return "MSELoss()"; }
  T forward(const Tensor<T>& prediction, const Tensor<T>& target) override {
    Tensor<T>& grad = this->start(prediction, target);
    const index_t n = prediction.numel();
    kernels::mse_loss_backward(grad.data(), prediction.data(), target.data(), n);
    return static_cast<T>(kernels::mse_loss_forward(prediction.data(), target.data(), n));
  }
};

// Binary cross-entropy on probabilities (e.g. after a Sigmoid); targets in [0, 1].
// Each log term is clamped at -100 as in PyTorch. Prefer BCEWithLogitsLoss on
// raw logits: it is exact where a saturated sigmoid rounds to 0 or 1.
template <typename T>
class BCELoss : public detail::ElementwiseLoss<T> {
 public:
  std::string describe() const override { return "BCELoss()"; }
  T forward(const Tensor<T>& prediction, const Tensor<T>& target) override {
    this->check_shapes(prediction, target);
    const index_t n = prediction.numel();
    Tensor<T>& grad = this->start(prediction, target);
    // One pass for the loss and its gradient; the kernel checks the range on
    // the way (NaN when some p is outside [0, 1]).
    const double loss =
        kernels::bce_loss_forward(prediction.data(), target.data(), n, grad.data());
    if (std::isnan(loss)) {
      for (index_t i = 0; i < n; ++i) {
        const T p = prediction[i];
        CAE_CHECK(p >= T(0) && p <= T(1), Error, describe(),
                  ": predictions must be probabilities in [0, 1], got ", p, " at element ", i,
                  " of ", prediction.shape(), " (use BCEWithLogitsLoss for logits)");
      }
    }
    return static_cast<T>(loss);
  }
};

// Binary cross-entropy of sigmoid(logits), computed without overflow for any logit.
template <typename T>
class BCEWithLogitsLoss : public detail::ElementwiseLoss<T> {
 public:
  std::string describe() const override { return "BCEWithLogitsLoss()"; }
  T forward(const Tensor<T>& logits, const Tensor<T>& target) override {
    Tensor<T>& grad = this->start(logits, target);
    const index_t n = logits.numel();
    kernels::bce_with_logits_loss_backward(grad.data(), logits.data(), target.data(), n);
    return static_cast<T>(kernels::bce_with_logits_loss_forward(logits.data(), target.data(), n));
  }
};

// Cross-entropy of raw logits [N, C] against class indices [N] (stored as T
// values 0, 1, ..., C-1), i.e. LogSoftmax over C followed by the negative
// log-likelihood, averaged over the batch. Also accepts logits [N, C, d...] with
// targets [N, d...] (one class per pixel), averaged over all N * d... positions.
template <typename T>
class CrossEntropyLoss : public Loss<T> {
 public:
  std::string describe() const override { return "CrossEntropyLoss()"; }

  T forward(const Tensor<T>& logits, const Tensor<T>& target) override {
    CAE_CHECK(logits.rank() >= 2, ShapeError, describe(),
              ": expected logits [N, C] (or [N, C, d...]), got shape ", logits.shape());
    Shape expected{logits.dim(0)};
    for (int i = 2; i < logits.rank(); ++i) expected.push_back(logits.dim(i));
    CAE_CHECK(target.shape() == expected, ShapeError, describe(), ": logits ", logits.shape(),
              " need class-index targets of shape ", expected, ", got ", target.shape());
    const index_t N = logits.dim(0), C = logits.dim(1), S = expected.numel() / std::max<index_t>(N, 1);
    CAE_CHECK(N * S > 0 && C > 0, ShapeError, describe(), ": empty logits ", logits.shape());
    for (index_t i = 0; i < target.numel(); ++i) {
      const T t = target[i];
      CAE_CHECK(t >= T(0) && t < T(C) && t == std::floor(t), Error, describe(), ": target[", i,
                "] = ", t, " is not a class index, an integer in [0, ", C, ")");
    }
    grad_.resize(logits.shape());
    // grad_ holds the log-probabilities until they become the gradient in place.
    const double loss =
        kernels::cross_entropy_loss_forward(grad_.data(), logits.data(), target.data(), N, C, S);
    kernels::cross_entropy_loss_backward(grad_.data(), grad_.data(), target.data(), N, C, S);
    computed_ = true;
    return static_cast<T>(loss);
  }

  const Tensor<T>& backward() override {
    CAE_CHECK(computed_, Error, describe(), ": backward() before forward()");
    return grad_;
  }

 private:
  Tensor<T> grad_;
  bool computed_ = false;
};

}  // namespace cae
