// One generic gradient check for every layer and loss (dlib's test_layer idea):
// compares the hand-written backward against central differences in double
// precision, on the input and on every parameter.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cae/loss.hpp"
#include "cae/module.hpp"

namespace cae::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-7;
  // Checking every element of a big parameter is slow; above this many
  // elements a seeded random subset of this size is checked.
  index_t max_checked = 400;
  std::uint64_t seed = 1;
  double input_low = -1.0, input_high = 1.0;
};

namespace detail {
inline std::vector<index_t> chosen_indices(index_t n, const GradcheckOptions& o, Rng& rng) {
  std::vector<index_t> idx;
  if (n <= o.max_checked) {
    for (index_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (index_t i = 0; i < o.max_checked; ++i) idx.push_back(static_cast<index_t>(rng.below(n)));
  }
  return idx;
}

// Counts and reports mismatches between analytic and numerical gradients.
inline void compare(const std::string& what, index_t i, double analytic, double numeric,
                    const GradcheckOptions& o, int& failures) {
  const double tol = o.atol + o.rtol * std::max(std::abs(analytic), std::abs(numeric));
  // Central differences carry O(eps^2) truncation and O(1e-16/eps) rounding error.
  const double slack = 1e-8;
  if (std::abs(analytic - numeric) > tol + slack) {
    if (failures < 5)
      UNSCOPED_INFO(what << "[" << i << "]: analytic " << analytic << " vs numeric " << numeric);
    ++failures;
  }
}
}  // namespace detail

// L = sum(r * module(x)) for a fixed random r, so dL/dy = r exercises every output.
inline void check_module_gradients(Module<double>& module, const Shape& input_shape,
                                   const GradcheckOptions& o = {}) {
  Rng rng(o.seed);
  Tensor<double> x(input_shape);
  x.fill_uniform(rng, o.input_low, o.input_high);
  module.build(input_shape.drop_front());
  Tensor<double> y = module.forward(x);
  Tensor<double> r(y.shape());
  r.fill_uniform(rng, -1.0, 1.0);

  auto loss = [&]() {
    const Tensor<double>& out = module.forward(x);
    double s = 0;
    for (index_t i = 0; i < out.numel(); ++i) s += r[i] * out[i];
    return s;
  };

  module.zero_grad();
  module.forward(x);
  Tensor<double> dx = module.backward(r);
  REQUIRE(dx.shape() == x.shape());
  std::vector<Tensor<double>> analytic_param_grads;
  auto params = module.parameters();
  for (auto& p : params) analytic_param_grads.push_back(*p.grad);

  int failures = 0;
  for (index_t i : detail::chosen_indices(x.numel(), o, rng)) {
    const double saved = x[i];
    x[i] = saved + o.eps;
    const double plus = loss();
    x[i] = saved - o.eps;
    const double minus = loss();
    x[i] = saved;
    detail::compare("d/dx", i, dx[i], (plus - minus) / (2 * o.eps), o, failures);
  }
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor<double>& w = *params[k].value;
    for (index_t i : detail::chosen_indices(w.numel(), o, rng)) {
      const double saved = w[i];
      w[i] = saved + o.eps;
      const double plus = loss();
      w[i] = saved - o.eps;
      const double minus = loss();
      w[i] = saved;
      detail::compare("d/d" + params[k].name, i, analytic_param_grads[k][i],
                      (plus - minus) / (2 * o.eps), o, failures);
    }
  }
  INFO(module.describe() << " on input " << input_shape);
  CHECK(failures == 0);
}

// Gradient check of a loss with respect to its prediction.
inline void check_loss_gradients(Loss<double>& loss, Tensor<double> prediction,
                                 const Tensor<double>& target, const GradcheckOptions& o = {}) {
  loss.forward(prediction, target);
  Tensor<double> analytic = loss.backward();
  REQUIRE(analytic.shape() == prediction.shape());
  Rng rng(o.seed);
  int failures = 0;
  for (index_t i : detail::chosen_indices(prediction.numel(), o, rng)) {
    const double saved = prediction[i];
    prediction[i] = saved + o.eps;
    const double plus = loss.forward(prediction, target);
    prediction[i] = saved - o.eps;
    const double minus = loss.forward(prediction, target);
    prediction[i] = saved;
    detail::compare("d/dpred", i, analytic[i], (plus - minus) / (2 * o.eps), o, failures);
  }
  INFO(loss.describe());
  CHECK(failures == 0);
}

}  // namespace cae::testing
