// Adam and AdamW, as torch.optim.Adam / AdamW (PyTorch 1.13). At step t:
//   Adam:  g = grad + weight_decay * param        (L2 penalty in the gradient)
//   AdamW: param *= 1 - lr * weight_decay         (decoupled weight decay), g = grad
//   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
//   v = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
//   param -= lr / (1 - beta1^t) * exp_avg / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "cae/optim/optimizer.hpp"
#include "cae/parallel.hpp"

namespace cae::optim {

namespace detail {
// Adam and AdamW take the same options and differ only in the default weight
// decay; separate types keep each default with its optimizer.
template <int DefaultWeightDecayPercent>
struct AdamFamilyOptions {
  explicit AdamFamilyOptions(double lr = 1e-3) : lr_(lr) {}
  CAE_OPTIM_ARG(double, lr, 1e-3);
  CAE_OPTIM_ARG(double, eps, 1e-8);
  CAE_OPTIM_ARG(double, weight_decay, DefaultWeightDecayPercent / 100.0);
  CAE_OPTIM_ARG(bool, amsgrad, false);

 public:
  AdamFamilyOptions& betas(double beta1, double beta2) {
    beta1_ = beta1;
    beta2_ = beta2;
    return *this;
  }
  std::pair<double, double> betas() const { return {beta1_, beta2_}; }

 private:
  double beta1_ = 0.9, beta2_ = 0.999;
};
}  // namespace detail

using AdamOptions = detail::AdamFamilyOptions<0>;
using AdamWOptions = detail::AdamFamilyOptions<1>;  // weight_decay 0.01 by default

namespace detail {

// The update shared by Adam and AdamW. Scalars are rounded to T before use,
// as PyTorch does when it applies a Python float to a float tensor.
template <typename T>
class AdamUpdate : public Optimizer<T> {
 public:
  template <typename Options>
  AdamUpdate(std::vector<Parameter<T>> params, const Options& options, bool decoupled)
      : Optimizer<T>(std::move(params), options.lr(), decoupled ? "AdamW" : "Adam"),
        options_(AdamOptions(options.lr())
                     .betas(options.betas().first, options.betas().second)
                     .eps(options.eps())
                     .weight_decay(options.weight_decay())
                     .amsgrad(options.amsgrad())),
        decoupled_(decoupled) {
    const std::string who = decoupled ? "AdamW" : "Adam";
    const auto [beta1, beta2] = options.betas();
    CAE_CHECK(options.eps() >= 0, Error, who, ": invalid eps ", options.eps());
    CAE_CHECK(beta1 >= 0 && beta1 < 1, Error, who, ": invalid beta1 ", beta1, " (needs [0, 1))");
    CAE_CHECK(beta2 >= 0 && beta2 < 1, Error, who, ": invalid beta2 ", beta2, " (needs [0, 1))");
    CAE_CHECK(options.weight_decay() >= 0, Error, who, ": invalid weight_decay ",
              options.weight_decay());
    this->add_state("exp_avg", exp_avg_);
    this->add_state("exp_avg_sq", exp_avg_sq_);
    if (options.amsgrad()) this->add_state("max_exp_avg_sq", max_exp_avg_sq_);
  }

  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  std::string describe() const override {
    const auto [beta1, beta2] = options_.betas();
    return str(name(), "(lr=", this->lr(), ", betas=(", beta1, ", ", beta2, "), eps=",
               options_.eps(), ", weight_decay=", options_.weight_decay(),
               ", amsgrad=", py_bool(options_.amsgrad()), ")");
  }

 protected:
  void update(std::size_t i, T* param, const T* grad, index_t n) override {
    const auto [beta1, beta2] = options_.betas();
    const double lr = this->lr();
    const double step = static_cast<double>(this->step_count());
    const double bias_correction1 = 1 - std::pow(beta1, step);
    const double bias_correction2 = 1 - std::pow(beta2, step);
    const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
    const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
    const T neg_step_size = static_cast<T>(-(lr / bias_correction1));
    const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
    const T eps = static_cast<T>(options_.eps());
    const T l2 = decoupled_ ? T(0) : static_cast<T>(options_.weight_decay());
    const T shrink = static_cast<T>(1 - lr * options_.weight_decay());
    const bool decay_weights = decoupled_;
    T* m = exp_avg_[i].data();
    T* v = exp_avg_sq_[i].data();
    T* v_max = options_.amsgrad() ? max_exp_avg_sq_[i].data() : nullptr;
    if (!decay_weights && l2 == T(0) && !v_max) {
      // Plain Adam (the common case): the same arithmetic as below, as a
      // branch-free vector loop over blocks that threads share. Small
      // parameters stay out of OpenMP (even a false if-clause allocates a team).
      auto block = [&](index_t begin, index_t end) {
        // std::sqrt may set errno, a branch that keeps the compiler from
        // vectorizing the loop; Eigen's sqrt is the same correctly rounded
        // instruction without it, so the roots are taken apart, in pieces.
        constexpr index_t kPiece = 256;
        alignas(64) T root[kPiece];
        for (index_t p = begin; p < end; p += kPiece) {
          const index_t len = std::min(kPiece, end - p);
#pragma omp simd
          for (index_t j = p; j < p + len; ++j) {
            const T g = grad[j];
            m[j] = m[j] * b1 + one_minus_b1 * g;
            v[j] = v[j] * b2 + one_minus_b2 * g * g;
          }
          using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
          Eigen::Map<Array>(root, len) = Eigen::Map<const Array>(v + p, len).sqrt();
#pragma omp simd
          for (index_t j = p; j < p + len; ++j) {
            const T denom = root[j - p] / bias_correction2_sqrt + eps;
            param[j] = param[j] + neg_step_size * (m[j] / denom);
          }
        }
      };
      constexpr index_t kBlock = 8192;
      const index_t blocks = (n + kBlock - 1) / kBlock;
      if (n > kElementwiseGrain) {
#pragma omp parallel for schedule(static)
        for (index_t k = 0; k < blocks; ++k) block(k * kBlock, std::min(n, (k + 1) * kBlock));
      } else {
        block(0, n);
      }
      return;
    }
    this->for_each_element(n, [&](index_t j) {
      if (decay_weights) param[j] = param[j] * shrink;
      T g = grad[j];
      if (l2 != 0) g = g + l2 * param[j];
      m[j] = m[j] * b1 + one_minus_b1 * g;
      v[j] = v[j] * b2 + one_minus_b2 * g * g;
      T second_moment = v[j];
      if (v_max) second_moment = v_max[j] = std::max(v_max[j], v[j]);
      const T denom = std::sqrt(second_moment) / bias_correction2_sqrt + eps;
      param[j] = param[j] + neg_step_size * (m[j] / denom);
    });
  }

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<Tensor<T>> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace detail

template <typename T>
class Adam : public detail::AdamUpdate<T> {
 public:
  Adam(std::vector<Parameter<T>> params, const AdamOptions& options = AdamOptions())
      : detail::AdamUpdate<T>(std::move(params), options, /*decoupled=*/false) {}
};

template <typename T>
class AdamW : public detail::AdamUpdate<T> {
 public:
  AdamW(std::vector<Parameter<T>> params, const AdamWOptions& options = AdamWOptions())
      : detail::AdamUpdate<T>(std::move(params), options, /*decoupled=*/true) {}
};

}  // namespace cae::optim
