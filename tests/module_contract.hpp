// The module contract (module.hpp) checked on any layer, in the manner of
// dlib's test_layer(): tests/test_module_contract.cpp runs every layer and
// loss through it, and fails if the library holds a layer class it does not run.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "cae/loss.hpp"
#include "cae/module.hpp"
#include "cae/parallel.hpp"
#include "cae/random.hpp"
#include "gradcheck.hpp"

namespace cae::testing {

struct ContractOptions {
  GradcheckOptions gradcheck;
  // Random in training mode (Dropout): the gradient check runs in eval mode.
  bool stochastic_in_training = false;
};

template <typename T>
using ModuleFactory = std::function<ModulePtr<T>()>;

namespace detail {
template <typename T>
Tensor<T> contract_input(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T> x(shape);
  x.fill_uniform(rng, -1.0, 1.0);
  return x;
}
template <typename T>
bool all_finite(const Tensor<T>& t) {
  for (index_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t[i])) return false;
  return true;
}
template <typename T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.numel()) == 0;
}
}  // namespace detail

// `type`: the class name, which describe() must start with; `input`: [N, ...].
inline void check_module_contract(const std::string& type, const ModuleFactory<double>& make_double,
                                  const ModuleFactory<float>& make_float, const Shape& input,
                                  const ContractOptions& o = {}) {
  using detail::contract_input;
  INFO(type << " on input " << input);
  // describe() and shape inference.
  ModulePtr<double> m = make_double();
  const Shape out = m->build(input.drop_front());
  CHECK(m->describe().rfind(type, 0) == 0);
  Tensor<double> x = contract_input<double>(input, 7);
  const Tensor<double>& y = m->forward(x);
  CHECK(y.shape() == out.prepend(input[0]));

  // Backward before forward is an error, not a crash. (Dropout, stateless
  // before its first forward, passes the gradient through instead.)
  if (!o.stochastic_in_training) {
    ModulePtr<double> fresh = make_double();
    fresh->build(input.drop_front());
    Tensor<double> dy(out.prepend(input[0]));
    CHECK_THROWS_AS(fresh->backward(dy), Error);
  }

  // Numeric gradient in double, of the input and every parameter.
  {
    ModulePtr<double> g = make_double();
    if (o.stochastic_in_training) g->eval();
    check_module_gradients(*g, input, o.gradcheck);
  }

  // Parameter gradients accumulate across two backwards; the input gradient
  // is overwritten (every element written: a NaN pre-fill must be gone).
  const Tensor<double> dy = contract_input<double>(y.shape(), 8);
  if (o.stochastic_in_training) m->eval();
  m->forward(x);
  m->zero_grad();
  Tensor<double>& dx1 = const_cast<Tensor<double>&>(m->backward(dy));
  const Tensor<double> first = dx1;
  std::vector<Tensor<double>> once;
  for (auto& p : m->parameters()) once.push_back(*p.grad);
  // A view layer's input gradient is dy itself, which must not be spoiled.
  if (dx1.data() != dy.data()) dx1.fill(std::nan(""));
  const Tensor<double>& dx2 = m->backward(dy);
  CHECK(detail::all_finite(dx2));
  CHECK(detail::same_bits(dx2, first));
  auto params = m->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    INFO("parameter " << params[i].name);
    const Tensor<double>& twice = *params[i].grad;
    REQUIRE(twice.shape() == once[i].shape());
    for (index_t k = 0; k < twice.numel(); ++k)
      REQUIRE(twice[k] == Approx(2 * once[i][k]).epsilon(1e-12).margin(1e-14));
  }

  // Input gradient off: an empty result, and the input gradient buffer not
  // written (it still holds the NaN put there).
  {
    ModulePtr<double> off = make_double();
    if (o.stochastic_in_training) off->eval();
    off->build(input.drop_front());
    off->forward(x);
    Tensor<double>& buffer = const_cast<Tensor<double>&>(off->backward(dy));
    const bool buffer_is_input = buffer.data() == x.data() || buffer.data() == dy.data();
    if (!buffer_is_input) buffer.fill(std::nan(""));
    off->set_input_grad(false);
    CHECK(!off->input_grad());
    off->forward(x);
    CHECK(off->backward(dy).numel() == 0);
    if (!buffer_is_input) CHECK(std::isnan(buffer[0]));
  }

  // eval/train: the flag follows, and eval is deterministic.
  {
    m->eval();
    CHECK(!m->is_training());
    const Tensor<double> a = m->forward(x);
    CHECK(detail::same_bits(m->forward(x), a));
    m->train();
    CHECK(m->is_training());
  }

  // Thread-count independence, in float, bit for bit (forward and gradients).
  if (!o.stochastic_in_training) {
    const int threads = num_threads();
    auto run = [&](int n) {
      set_num_threads(n);
      manual_seed(99);  // the same initial parameters for both runs
      ModulePtr<float> f = make_float();
      f->build(input.drop_front());
      const Tensor<float> xf = x.cast<float>();
      std::vector<Tensor<float>> results{f->forward(xf)};
      results.push_back(f->backward(dy.cast<float>()));
      for (auto& p : f->parameters()) results.push_back(*p.grad);
      return results;
    };
    const auto one = run(1), two = run(2);
    set_num_threads(threads);
    REQUIRE(one.size() == two.size());
    for (std::size_t i = 0; i < one.size(); ++i) CHECK(detail::same_bits(one[i], two[i]));
  }
}

// Losses: describe(), the numeric gradient, every gradient element written
// (NaN pre-fill), backward before forward, thread-count independence.
inline void check_loss_contract(const std::string& type, Loss<double>& loss, Loss<float>& loss_float,
                                const Tensor<double>& prediction, const Tensor<double>& target,
                                const GradcheckOptions& o = {}) {
  INFO(type);
  CHECK(loss.describe().rfind(type, 0) == 0);
  check_loss_gradients(loss, prediction, target, o);
  loss.forward(prediction, target);
  Tensor<double>& g = const_cast<Tensor<double>&>(loss.backward());
  const Tensor<double> first = g;
  g.fill(std::nan(""));
  loss.forward(prediction, target);
  CHECK(detail::same_bits(loss.backward(), first));
  const int threads = num_threads();
  const Tensor<float> p = prediction.cast<float>(), t = target.cast<float>();
  set_num_threads(1);
  const float l1 = loss_float.forward(p, t);
  const Tensor<float> g1 = loss_float.backward();
  set_num_threads(2);
  const float l2 = loss_float.forward(p, t);
  CHECK(std::memcmp(&l1, &l2, sizeof l1) == 0);
  CHECK(detail::same_bits(loss_float.backward(), g1));
  set_num_threads(threads);
}

}  // namespace cae::testing
