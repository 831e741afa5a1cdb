// Adadelta, as torch.optim.Adadelta (PyTorch 1.13):
//   g = grad + weight_decay * param
//   square_avg = rho * square_avg + (1 - rho) * g * g
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = rho * acc_delta + (1 - rho) * delta * delta
//   param -= lr * delta
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "cae/optim/optimizer.hpp"

namespace cae::optim {

struct AdadeltaOptions {
  explicit AdadeltaOptions(double lr = 1.0) : lr_(lr) {}
  CAE_OPTIM_ARG(double, lr, 1.0);
  CAE_OPTIM_ARG(double, rho, 0.9);
  CAE_OPTIM_ARG(double, eps, 1e-6);
  CAE_OPTIM_ARG(double, weight_decay, 0);
};

template <typename T>
class Adadelta : public Optimizer<T> {
 public:
  Adadelta(std::vector<Parameter<T>> params, const AdadeltaOptions& options = AdadeltaOptions())
      : Optimizer<T>(std::move(params), options.lr(), "Adadelta"), options_(options) {
    CAE_CHECK(options.rho() >= 0 && options.rho() <= 1, Error, "Adadelta: invalid rho ",
              options.rho(), " (needs [0, 1])");
    CAE_CHECK(options.eps() >= 0, Error, "Adadelta: invalid eps ", options.eps());
    CAE_CHECK(options.weight_decay() >= 0, Error, "Adadelta: invalid weight_decay ",
              options.weight_decay());
    this->add_state("square_avg", square_avg_);
    this->add_state("acc_delta", acc_delta_);
  }

  std::string name() const override { return "Adadelta"; }
  std::string describe() const override {
    return str("Adadelta(lr=", this->lr(), ", rho=", options_.rho(), ", eps=", options_.eps(),
               ", weight_decay=", options_.weight_decay(), ")");
  }
  const AdadeltaOptions& options() const { return options_; }

 protected:
  void update(std::size_t i, T* param, const T* grad, index_t n) override {
    const T rho = static_cast<T>(options_.rho());
    const T one_minus_rho = static_cast<T>(1 - options_.rho());
    const T eps = static_cast<T>(options_.eps());
    const T weight_decay = static_cast<T>(options_.weight_decay());
    const T neg_lr = static_cast<T>(-this->lr());
    T* square_avg = square_avg_[i].data();
    T* acc_delta = acc_delta_[i].data();
    this->for_each_element(n, [&](index_t j) {
      T g = grad[j];
      if (weight_decay != 0) g = g + weight_decay * param[j];
      square_avg[j] = square_avg[j] * rho + one_minus_rho * g * g;
      const T std_dev = std::sqrt(square_avg[j] + eps);
      const T delta = std::sqrt(acc_delta[j] + eps) / std_dev * g;
      acc_delta[j] = acc_delta[j] * rho + one_minus_rho * delta * delta;
      param[j] = param[j] + neg_lr * delta;
    });
  }

 private:
  AdadeltaOptions options_;
  std::vector<Tensor<T>> square_avg_, acc_delta_;
};

}  // namespace cae::optim
