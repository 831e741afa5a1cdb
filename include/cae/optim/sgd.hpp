// Stochastic gradient descent with momentum, dampening, Nesterov momentum and
// L2 weight decay, as torch.optim.SGD (PyTorch 1.13):
//   d = grad + weight_decay * param
//   buf = d                                  on the first step
//   buf = momentum * buf + (1 - dampening) * d   afterwards
//   d = nesterov ? d + momentum * buf : buf  (when momentum != 0)
//   param -= lr * d
#pragma once

#include <string>
#include <vector>

#include "cae/optim/optimizer.hpp"

namespace cae::optim {

struct SGDOptions {
  // PyTorch's SGD has no default learning rate either.
  explicit SGDOptions(double lr) : lr_(lr) {}
  CAE_OPTIM_ARG(double, lr, 0);
  CAE_OPTIM_ARG(double, momentum, 0);
  CAE_OPTIM_ARG(double, dampening, 0);
  CAE_OPTIM_ARG(double, weight_decay, 0);
  CAE_OPTIM_ARG(bool, nesterov, false);
};

template <typename T>
class SGD : public Optimizer<T> {
 public:
  SGD(std::vector<Parameter<T>> params, const SGDOptions& options)
      : Optimizer<T>(std::move(params), options.lr(), "SGD"), options_(options) {
    CAE_CHECK(options.momentum() >= 0, Error, "SGD: invalid momentum ", options.momentum());
    CAE_CHECK(options.weight_decay() >= 0, Error, "SGD: invalid weight_decay ",
              options.weight_decay());
    CAE_CHECK(!options.nesterov() || (options.momentum() > 0 && options.dampening() == 0), Error,
              "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum=",
              options.momentum(), ", dampening=", options.dampening(), ")");
    if (options.momentum() != 0) this->add_state("momentum_buffer", momentum_buffer_);
  }

  std::string name() const override { return "SGD"; }
  std::string describe() const override {
    return str("SGD(lr=", this->lr(), ", momentum=", options_.momentum(),
               ", dampening=", options_.dampening(), ", weight_decay=", options_.weight_decay(),
               ", nesterov=", detail::py_bool(options_.nesterov()), ")");
  }
  const SGDOptions& options() const { return options_; }

 protected:
  void update(std::size_t i, T* param, const T* grad, index_t n) override {
    const T weight_decay = static_cast<T>(options_.weight_decay());
    const T momentum = static_cast<T>(options_.momentum());
    const T undamped = static_cast<T>(1 - options_.dampening());
    const T neg_lr = static_cast<T>(-this->lr());
    const bool use_momentum = options_.momentum() != 0;
    const bool first_step = this->step_count() == 1;
    const bool nesterov = options_.nesterov();
    T* buf = use_momentum ? momentum_buffer_[i].data() : nullptr;
    this->for_each_element(n, [&](index_t j) {
      T d = grad[j];
      if (weight_decay != 0) d = d + weight_decay * param[j];
      if (use_momentum) {
        buf[j] = first_step ? d : buf[j] * momentum + undamped * d;
        d = nesterov ? d + momentum * buf[j] : buf[j];
      }
      param[j] = param[j] + neg_lr * d;
    });
  }

 private:
  SGDOptions options_;
  std::vector<Tensor<T>> momentum_buffer_;
};

}  // namespace cae::optim
