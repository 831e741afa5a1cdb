// Learning-rate schedulers with torch.optim.lr_scheduler's semantics (PyTorch
// 1.13). They change the learning rate of an optimizer; call step() once per
// epoch, after that epoch's optimizer steps:
//
//   StepLR             lr *= gamma every step_size epochs.
//   CosineAnnealingLR  lr follows half a cosine from its initial value down to
//                      eta_min over T_max epochs, then back up (period 2 T_max).
//   ReduceLROnPlateau  lr *= factor once the metric passed to step(metric) has
//                      not improved for more than `patience` epochs.
//
// Like PyTorch, StepLR and CosineAnnealingLR update the current lr recursively
// (so changes made to it from outside carry over), which makes their values
// identical to PyTorch's, rounding included. Constructing a scheduler leaves
// the lr unchanged. state()/load_state() save and restore a scheduler's
// counters, e.g. in a checkpoint's metadata.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "cae/error.hpp"
#include "cae/optim/optimizer.hpp"

namespace cae::optim {

namespace detail {
inline double state_value(const std::map<std::string, double>& state, const std::string& key,
                          const std::string& who) {
  auto it = state.find(key);
  CAE_CHECK(it != state.end(), Error, who, ": saved state has no '", key, "'");
  return it->second;
}
}  // namespace detail

class StepLR {
 public:
  StepLR(OptimizerBase& optimizer, std::int64_t step_size, double gamma = 0.1)
      : optimizer_(optimizer), step_size_(step_size), gamma_(gamma) {
    CAE_CHECK(step_size > 0, Error, "StepLR: step_size must be positive, got ", step_size);
  }

  void step() {
    ++last_epoch_;
    if (last_epoch_ % step_size_ == 0) optimizer_.set_lr(optimizer_.lr() * gamma_);
  }
  double get_last_lr() const { return optimizer_.lr(); }
  std::int64_t last_epoch() const { return last_epoch_; }

  std::map<std::string, double> state() const {
    return {{"last_epoch", static_cast<double>(last_epoch_)}};
  }
  void load_state(const std::map<std::string, double>& state) {
    last_epoch_ = static_cast<std::int64_t>(detail::state_value(state, "last_epoch", "StepLR"));
  }

 private:
  OptimizerBase& optimizer_;
  std::int64_t step_size_;
  double gamma_;
  std::int64_t last_epoch_ = 0;
};

class CosineAnnealingLR {
 public:
  CosineAnnealingLR(OptimizerBase& optimizer, std::int64_t T_max, double eta_min = 0)
      : optimizer_(optimizer), T_max_(T_max), eta_min_(eta_min), base_lr_(optimizer.lr()) {
    CAE_CHECK(T_max > 0, Error, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  }

  void step() {
    ++last_epoch_;
    const double pi = 3.14159265358979323846;  // Python's math.pi
    const double lr = optimizer_.lr();
    const double e = static_cast<double>(last_epoch_), t = static_cast<double>(T_max_);
    // The same expressions, in the same order, as PyTorch's get_lr().
    if ((last_epoch_ - 1 - T_max_) % (2 * T_max_) == 0) {
      // Restarting from eta_min, where the recursive ratio below would divide by 0.
      optimizer_.set_lr(lr + (base_lr_ - eta_min_) * (1 - std::cos(pi / t)) / 2);
    } else {
      optimizer_.set_lr((1 + std::cos(pi * e / t)) / (1 + std::cos(pi * (e - 1) / t)) *
                            (lr - eta_min_) +
                        eta_min_);
    }
  }
  double get_last_lr() const { return optimizer_.lr(); }
  std::int64_t last_epoch() const { return last_epoch_; }

  std::map<std::string, double> state() const {
    return {{"last_epoch", static_cast<double>(last_epoch_)}, {"base_lr", base_lr_}};
  }
  void load_state(const std::map<std::string, double>& state) {
    const std::string who = "CosineAnnealingLR";
    last_epoch_ = static_cast<std::int64_t>(detail::state_value(state, "last_epoch", who));
    base_lr_ = detail::state_value(state, "base_lr", who);
  }

 private:
  OptimizerBase& optimizer_;
  std::int64_t T_max_;
  double eta_min_;
  double base_lr_;
  std::int64_t last_epoch_ = 0;
};

enum class PlateauMode { min, max };          // whether a lower or a higher metric is better
enum class ThresholdMode { rel, abs };        // improvement measured relative to best, or absolute

struct ReduceLROnPlateauOptions {
  CAE_OPTIM_ARG(PlateauMode, mode, PlateauMode::min);
  CAE_OPTIM_ARG(double, factor, 0.1);
  CAE_OPTIM_ARG(std::int64_t, patience, 10);
  CAE_OPTIM_ARG(double, threshold, 1e-4);
  CAE_OPTIM_ARG(ThresholdMode, threshold_mode, ThresholdMode::rel);
  CAE_OPTIM_ARG(std::int64_t, cooldown, 0);
  CAE_OPTIM_ARG(double, min_lr, 0);
  // Reductions smaller than eps are skipped.
  CAE_OPTIM_ARG(double, eps, 1e-8);
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(OptimizerBase& optimizer,
                             const ReduceLROnPlateauOptions& options = ReduceLROnPlateauOptions())
      : optimizer_(optimizer), options_(options) {
    CAE_CHECK(options.factor() < 1.0, Error, "ReduceLROnPlateau: factor should be < 1.0, got ",
              options.factor());
    CAE_CHECK(options.patience() >= 0 && options.cooldown() >= 0, Error,
              "ReduceLROnPlateau: patience and cooldown must not be negative (got ",
              options.patience(), ", ", options.cooldown(), ")");
    best_ = worst();
  }

  // Records the epoch's metric (e.g. the validation loss) and lowers the lr
  // when it has stopped improving.
  void step(double metric) {
    ++last_epoch_;
    if (is_better(metric, best_)) {
      best_ = metric;
      num_bad_epochs_ = 0;
    } else {
      ++num_bad_epochs_;
    }
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      num_bad_epochs_ = 0;  // bad epochs during the cooldown do not count
    }
    if (num_bad_epochs_ > options_.patience()) {
      const double old_lr = optimizer_.lr();
      const double new_lr = std::max(old_lr * options_.factor(), options_.min_lr());
      if (old_lr - new_lr > options_.eps()) optimizer_.set_lr(new_lr);
      cooldown_counter_ = options_.cooldown();
      num_bad_epochs_ = 0;
    }
  }
  double get_last_lr() const { return optimizer_.lr(); }
  std::int64_t last_epoch() const { return last_epoch_; }
  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }

  std::map<std::string, double> state() const {
    return {{"last_epoch", static_cast<double>(last_epoch_)},
            {"best", best_},
            {"num_bad_epochs", static_cast<double>(num_bad_epochs_)},
            {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
  }
  void load_state(const std::map<std::string, double>& state) {
    const std::string who = "ReduceLROnPlateau";
    last_epoch_ = static_cast<std::int64_t>(detail::state_value(state, "last_epoch", who));
    best_ = detail::state_value(state, "best", who);
    num_bad_epochs_ = static_cast<std::int64_t>(detail::state_value(state, "num_bad_epochs", who));
    cooldown_counter_ =
        static_cast<std::int64_t>(detail::state_value(state, "cooldown_counter", who));
  }

 private:
  double worst() const {
    const double inf = std::numeric_limits<double>::infinity();
    return options_.mode() == PlateauMode::min ? inf : -inf;
  }
  bool is_better(double a, double best) const {
    const double t = options_.threshold();
    const bool rel = options_.threshold_mode() == ThresholdMode::rel;
    if (options_.mode() == PlateauMode::min) return rel ? a < best * (1. - t) : a < best - t;
    return rel ? a > best * (t + 1.) : a > best + t;
  }

  OptimizerBase& optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t last_epoch_ = 0;
};

}  // namespace cae::optim
