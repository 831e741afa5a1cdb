// RMSprop, as torch.optim.RMSprop (PyTorch 1.13):
//   g = grad + weight_decay * param
//   square_avg = alpha * square_avg + (1 - alpha) * g * g
//   centered:  grad_avg = alpha * grad_avg + (1 - alpha) * g
//              avg = sqrt(square_avg - grad_avg^2) + eps
//   otherwise: avg = sqrt(square_avg) + eps
//   momentum > 0: momentum_buffer = momentum * momentum_buffer + g / avg
//                 param -= lr * momentum_buffer
//   otherwise:    param -= lr * g / avg
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "cae/optim/optimizer.hpp"

namespace cae::optim {

struct RMSpropOptions {
  explicit RMSpropOptions(double lr = 1e-2) : lr_(lr) {}
  CAE_OPTIM_ARG(double, lr, 1e-2);
  CAE_OPTIM_ARG(double, alpha, 0.99);
  CAE_OPTIM_ARG(double, eps, 1e-8);
  CAE_OPTIM_ARG(double, weight_decay, 0);
  CAE_OPTIM_ARG(double, momentum, 0);
  CAE_OPTIM_ARG(bool, centered, false);
};

template <typename T>
class RMSprop : public Optimizer<T> {
 public:
  RMSprop(std::vector<Parameter<T>> params, const RMSpropOptions& options = RMSpropOptions())
      : Optimizer<T>(std::move(params), options.lr(), "RMSprop"), options_(options) {
    CAE_CHECK(options.alpha() >= 0, Error, "RMSprop: invalid alpha ", options.alpha());
    CAE_CHECK(options.eps() >= 0, Error, "RMSprop: invalid eps ", options.eps());
    CAE_CHECK(options.momentum() >= 0, Error, "RMSprop: invalid momentum ", options.momentum());
    CAE_CHECK(options.weight_decay() >= 0, Error, "RMSprop: invalid weight_decay ",
              options.weight_decay());
    this->add_state("square_avg", square_avg_);
    if (options.momentum() > 0) this->add_state("momentum_buffer", momentum_buffer_);
    if (options.centered()) this->add_state("grad_avg", grad_avg_);
  }

  std::string name() const override { return "RMSprop"; }
  std::string describe() const override {
    return str("RMSprop(lr=", this->lr(), ", alpha=", options_.alpha(), ", eps=", options_.eps(),
               ", weight_decay=", options_.weight_decay(), ", momentum=", options_.momentum(),
               ", centered=", detail::py_bool(options_.centered()), ")");
  }
  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(std::size_t i, T* param, const T* grad, index_t n) override {
    const T alpha = static_cast<T>(options_.alpha());
    const T one_minus_alpha = static_cast<T>(1 - options_.alpha());
    const T eps = static_cast<T>(options_.eps());
    const T weight_decay = static_cast<T>(options_.weight_decay());
    const T momentum = static_cast<T>(options_.momentum());
    const T neg_lr = static_cast<T>(-this->lr());
    T* square_avg = square_avg_[i].data();
    T* grad_avg = options_.centered() ? grad_avg_[i].data() : nullptr;
    T* buf = options_.momentum() > 0 ? momentum_buffer_[i].data() : nullptr;
    this->for_each_element(n, [&](index_t j) {
      T g = grad[j];
      if (weight_decay != 0) g = g + weight_decay * param[j];
      square_avg[j] = square_avg[j] * alpha + one_minus_alpha * g * g;
      T avg;
      if (grad_avg) {
        grad_avg[j] = grad_avg[j] * alpha + one_minus_alpha * g;
        avg = std::sqrt(square_avg[j] - grad_avg[j] * grad_avg[j]);
      } else {
        avg = std::sqrt(square_avg[j]);
      }
      avg = avg + eps;
      if (buf) {
        buf[j] = buf[j] * momentum + g / avg;
        param[j] = param[j] + neg_lr * buf[j];
      } else {
        param[j] = param[j] + neg_lr * (g / avg);
      }
    });
  }

 private:
  RMSpropOptions options_;
  std::vector<Tensor<T>> square_avg_, grad_avg_, momentum_buffer_;
};

}  // namespace cae::optim
