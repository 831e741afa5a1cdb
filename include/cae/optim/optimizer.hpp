// Optimizer<T>: the base class of SGD, Adam, AdamW, Adadelta and RMSprop.
//
// An optimizer holds the (value, gradient) pointers of module.parameters(), so
// the module must outlive it. Its per-parameter state tensors (exp_avg,
// momentum_buffer, ...) are allocated once, zeroed, at construction. step()
// applies one update with PyTorch 1.13's rules (torch.optim, foreach=False);
// zero_grad() clears the gradients. lr()/set_lr() are what the schedulers use.
//
// state() names every state tensor "<parameter name>.<PyTorch state key>",
// e.g. "0.weight.exp_avg"; together with step_count() and lr() it is the whole
// optimizer state, which is what checkpoints save and restore.
#pragma once

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cae/error.hpp"
#include "cae/module.hpp"
#include "cae/tensor.hpp"

// Declares an option with a chainable setter and a getter, like libtorch's
// TORCH_ARG: AdamOptions(1e-3).weight_decay(1e-4).amsgrad(true).
#define CAE_OPTIM_ARG(Type, name, default_value)   \
 public:                                           \
  auto& name(Type value) {                         \
    name##_ = value;                               \
    return *this;                                  \
  }                                                \
  Type name() const { return name##_; }            \
                                                   \
 private:                                          \
  Type name##_ = default_value

namespace cae::optim {

// What a learning-rate scheduler needs from an optimizer. It is not templated
// on the element type, so one scheduler class serves Adam<float> and SGD<double>.
class OptimizerBase {
 public:
  virtual ~OptimizerBase() = default;

  // The class name as in torch.optim ("Adam"); checkpoints record it.
  virtual std::string name() const = 0;
  // One line with the hyperparameters, e.g. "SGD(lr=0.1, momentum=0.9, ...)".
  virtual std::string describe() const = 0;

  double lr() const { return lr_; }
  void set_lr(double lr) {
    CAE_CHECK(std::isfinite(lr) && lr >= 0, Error, describe(), ": invalid learning rate ", lr);
    lr_ = lr;
  }
  // How many times step() has run (PyTorch's state["step"]).
  std::int64_t step_count() const { return steps_; }

 protected:
  double lr_ = 0;
  std::int64_t steps_ = 0;
};

template <typename T>
class Optimizer : public OptimizerBase {
 public:
  // A named state tensor, e.g. {"0.weight.exp_avg", &tensor}.
  using StateTensor = Buffer<T>;

  Optimizer(std::vector<Parameter<T>> params, double lr, const std::string& name)
      : params_(std::move(params)) {
    CAE_CHECK(std::isfinite(lr) && lr >= 0, Error, name, ": invalid learning rate ", lr);
    lr_ = lr;
    CAE_CHECK(!params_.empty(), Error, name,
              ": got an empty parameter list (build the model before creating its optimizer)");
    std::set<std::string> seen;
    for (const auto& p : params_) {
      CAE_CHECK(p.value != nullptr && p.grad != nullptr, Error, name, ": parameter '", p.name,
                "' has no value or gradient tensor");
      CAE_CHECK(p.grad->shape() == p.value->shape(), ShapeError, name, ": parameter '", p.name,
                "' has shape ", p.value->shape(), " but its gradient has shape ", p.grad->shape());
      CAE_CHECK(seen.insert(p.name).second, Error, name, ": two parameters are named '", p.name,
                "'; give parameters of different modules distinct names (e.g. prefix "
                "\"decoder.\") so the optimizer state can be saved");
    }
  }
  // The state tensors point into this object.
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter from its current gradient.
  void step() {
    for (std::size_t i = 0; i < params_.size(); ++i) check_shapes(i);
    ++steps_;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      const Parameter<T>& p = params_[i];
      update(i, p.value->data(), p.grad->data(), p.value->numel());
    }
  }

  void zero_grad() {
    for (auto& p : params_) p.grad->zero();
  }

  const std::vector<Parameter<T>>& parameters() const { return params_; }

  // Every state tensor, per parameter in parameter order, named
  // "<parameter name>.<state key>".
  std::vector<StateTensor> state() {
    std::vector<StateTensor> out;
    for (std::size_t i = 0; i < params_.size(); ++i)
      for (auto& [key, tensors] : state_kinds_)
        out.push_back({params_[i].name + "." + key, &(*tensors)[i]});
    return out;
  }
  // Used when loading a checkpoint, together with state() and set_lr().
  void set_step_count(std::int64_t steps) {
    CAE_CHECK(steps >= 0, Error, describe(), ": negative step count ", steps);
    steps_ = steps;
  }

 protected:
  // Updates the n elements of parameter i; steps_ already counts this step.
  virtual void update(std::size_t i, T* param, const T* grad, index_t n) = 0;

  // Allocates one zeroed tensor per parameter, shaped like it, as the state
  // `key` (PyTorch's name, e.g. "exp_avg"). Call once per key in the constructor.
  void add_state(const std::string& key, std::vector<Tensor<T>>& tensors) {
    tensors.clear();
    for (const auto& p : params_) tensors.emplace_back(p.value->shape(), T(0));
    state_kinds_.push_back({key, &tensors});
  }

  // Runs f(j) for j in [0, n). Each element is independent of the others, so
  // the result does not depend on the thread count.
  template <typename F>
  static void for_each_element(index_t n, F&& f) {
#pragma omp parallel for schedule(static) if (n >= 32768)
    for (index_t j = 0; j < n; ++j) f(j);
  }

  std::vector<Parameter<T>> params_;

 private:
  void check_shapes(std::size_t i) const {
    const Parameter<T>& p = params_[i];
    CAE_CHECK(p.grad->shape() == p.value->shape(), ShapeError, describe(), ": parameter '",
              p.name, "' has shape ", p.value->shape(), " but its gradient has shape ",
              p.grad->shape());
    for (const auto& [key, tensors] : state_kinds_)
      CAE_CHECK((*tensors)[i].shape() == p.value->shape(), ShapeError, describe(),
                ": parameter '", p.name, "' has shape ", p.value->shape(), " but its ", key,
                " state has shape ", (*tensors)[i].shape(), " (was the model rebuilt?)");
  }

  std::vector<std::pair<std::string, std::vector<Tensor<T>>*>> state_kinds_;
};

namespace detail {
// Formats a bool as Python does in the optimizers' reprs.
inline const char* py_bool(bool b) { return b ? "True" : "False"; }
}  // namespace detail

}  // namespace cae::optim
