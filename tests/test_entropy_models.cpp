#include <catch2/catch.hpp>

#include <cmath>
#include <functional>

#include "cae/codec/entropy_models.hpp"
#include "cae/codec/models.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"

using namespace cae;

namespace {

// Density parameters away from the initialization (where every channel is
// the same logistic and the factors are 0), so each parameter matters.
void randomize(EntropyBottleneck<double>& eb, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& p : eb.parameters()) {
    if (p.name == "quantiles") continue;
    for (index_t k = 0; k < p.value->numel(); ++k)
      (*p.value)[k] += rng.uniform(-0.4, 0.4) + (p.name.rfind("_factor", 0) == 0 ? 0.3 : 0.0);
  }
}

// The likelihood of the input under the bottleneck's density, as a Module, so the
// generic gradient check covers dlik/dvalues and dlik/dparameters.
class LikelihoodProbe : public Module<double> {
 public:
  explicit LikelihoodProbe(EntropyBottleneck<double>& eb) : eb_(eb) {}
  std::string describe() const override { return "LikelihoodProbe"; }
  Shape build(const Shape& in) override { return in; }
  const Tensor<double>& forward(const Tensor<double>& x) override { return eb_.likelihood(x); }
  const Tensor<double>& backward(const Tensor<double>& d) override {
    return eb_.likelihood_backward(d);
  }
  void collect_parameters(const std::string& prefix, std::vector<Parameter<double>>& out) override {
    eb_.collect_parameters(prefix, out);
  }

 private:
  EntropyBottleneck<double>& eb_;
};

// Central-difference derivative of f at x[i].
double numeric(const std::function<double()>& f, double& x, double eps = 1e-6) {
  const double saved = x;
  x = saved + eps;
  const double plus = f();
  x = saved - eps;
  const double minus = f();
  x = saved;
  return (plus - minus) / (2 * eps);
}

}  // namespace

TEST_CASE("EntropyBottleneck has CompressAI's parameters and initialization", "[entropy]") {
  EntropyBottleneck<double> eb(5);
  auto params = eb.parameters();
  std::vector<std::string> names;
  for (auto& p : params) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"_matrix0", "_bias0", "_factor0", "_matrix1", "_bias1",
                                          "_factor1", "_matrix2", "_bias2", "_factor2",
                                          "_matrix3", "_bias3", "quantiles"});
  CHECK(params[0].value->shape() == Shape{5, 3, 1});
  CHECK(params[3].value->shape() == Shape{5, 3, 3});
  CHECK(params[9].value->shape() == Shape{5, 1, 3});
  CHECK(params[11].value->shape() == Shape{5, 1, 3});
  // softplus(matrix_k) = 1 / (10^(1/4) f[k+1]).
  const double scale = std::pow(10.0, 0.25);
  CHECK(kernels::softplus((*params[3].value)[0]) == Approx(1 / scale / 3));
  CHECK(kernels::softplus((*params[9].value)[0]) == Approx(1 / scale));
  CHECK(eb.quantiles()[0] == -10.0);
  CHECK(eb.quantiles()[2] == 10.0);
}

TEST_CASE("EntropyBottleneck likelihoods are a distribution over the integers", "[entropy]") {
  EntropyBottleneck<double> eb(3);
  randomize(eb, 11);
  // Summed over all integers around the median, the likelihoods reach 1.
  Tensor<double> v({1, 3, 401});
  for (index_t c = 0; c < 3; ++c)
    for (index_t i = 0; i < 401; ++i) v[c * 401 + i] = double(i - 200);
  const Tensor<double>& lik = eb.likelihood(v);
  for (index_t c = 0; c < 3; ++c) {
    double sum = 0;
    for (index_t i = 0; i < 401; ++i) {
      CHECK(lik[c * 401 + i] >= 1e-9);
      CHECK(lik[c * 401 + i] <= 1.0);
      sum += lik[c * 401 + i];
    }
    CHECK(sum == Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("EntropyBottleneck likelihood gradients", "[entropy][gradcheck]") {
  for (std::uint64_t seed : {1, 2}) {
    EntropyBottleneck<double> eb(4);
    randomize(eb, seed);
    LikelihoodProbe probe(eb);
    testing::GradcheckOptions o;
    o.input_low = -4;
    o.input_high = 4;
    o.seed = seed;
    testing::check_module_gradients(probe, {2, 4, 3, 3}, o);
  }
}

TEST_CASE("EntropyBottleneck rate gradient through noise and the bound", "[entropy][gradcheck]") {
  // L = sum(r * y_hat) + w * bits, with the same noise at every evaluation.
  EntropyBottleneck<double> eb(3);
  randomize(eb, 5);
  Rng rng(9);
  Tensor<double> y({2, 3, 2, 2});
  y.fill_uniform(rng, -3, 3);
  y[0] = 400.0;  // far in the tail: the likelihood sits at its lower bound
  Tensor<double> r(y.shape());
  r.fill_uniform(rng, -1, 1);
  const double w = 0.37;
  auto loss = [&]() {
    eb.noise_rng().seed_with(77);
    const Tensor<double>& yh = eb.forward(y);
    double s = 0;
    for (index_t k = 0; k < yh.numel(); ++k) s += r[k] * yh[k];
    return s + w * total_bits(eb.likelihoods());
  };
  loss();
  CHECK(eb.likelihoods()[0] == 1e-9);
  eb.zero_grad();
  const Tensor<double> dy = eb.backward(r, w);
  // At the bound the loss is flat in y: the kernel still passes the rate's gradient
  // (dL/dlik < 0), as CompressAI's LowerBound, so only the in-range elements are compared.
  for (index_t k = 1; k < y.numel(); ++k) CHECK(dy[k] == Approx(numeric(loss, y[k])).margin(1e-6));
  auto params = eb.parameters();
  const Tensor<double> g = *params[3].grad;  // _matrix1
  for (index_t k = 0; k < g.numel(); ++k)
    CHECK(g[k] == Approx(numeric(loss, (*params[3].value)[k])).margin(1e-5));
}

TEST_CASE("EntropyBottleneck aux loss moves the quantiles", "[entropy][gradcheck]") {
  EntropyBottleneck<double> eb(2);
  randomize(eb, 3);
  eb.zero_grad();
  eb.aux_loss();
  const Tensor<double> g = eb.quantiles_grad();
  for (index_t k = 0; k < 6; ++k)
    CHECK(g[k] == Approx(numeric([&] { return eb.aux_loss(); }, eb.quantiles()[k])).margin(1e-6));
  // Only the quantiles get a gradient from the aux loss.
  for (auto& p : eb.parameters())
    if (p.name != "quantiles")
      for (index_t k = 0; k < p.grad->numel(); ++k) CHECK((*p.grad)[k] == 0.0);
  // Sign descent with a decaying step on the aux loss finds the quantiles.
  double before = eb.aux_loss();
  double rate = 1.0;
  for (int step = 0; step < 4000; ++step, rate *= 0.998) {
    eb.zero_grad();
    eb.aux_loss();
    for (index_t k = 0; k < 6; ++k)
      eb.quantiles()[k] -= rate * (eb.quantiles_grad()[k] > 0 ? 1 : -1);
  }
  eb.zero_grad();
  CHECK(eb.aux_loss() < 0.05 * before);
  auto tables = eb.tables();
  for (auto& t : tables) {
    double sum = t.tail_mass;
    for (double p : t.pmf) sum += p;
    CHECK(sum == Approx(1.0).epsilon(1e-6));
    CHECK(t.tail_mass < 1e-6);
    CHECK(t.offset <= 0);
  }
}

TEST_CASE("EntropyBottleneck quantizes around the medians", "[entropy]") {
  EntropyBottleneck<float> eb(2);
  eb.quantiles()[1] = 0.3f;   // channel 0 median
  eb.quantiles()[4] = -1.2f;  // channel 1 median
  Tensor<float> y = Tensor<float>::from({1, 2, 1, 3}, {0.79f, 0.81f, -2.0f, -1.2f, 0.0f, 3.5f});
  auto symbols = eb.quantize(y);
  CHECK(symbols == std::vector<std::int32_t>{0, 1, -2, 0, 1, 5});
  Tensor<float> back = eb.dequantize(symbols, y.shape());
  CHECK(back[1] == Approx(1.3f));
  CHECK(back[5] == Approx(3.8f));
  eb.eval();
  const Tensor<float>& yh = eb.forward(y);
  for (index_t k = 0; k < 6; ++k) CHECK(yh[k] == back[k]);
  Tensor<float> bad = y;
  bad[2] = std::nanf("");
  CHECK_THROWS_AS(eb.quantize(bad), Error);
  CHECK_THROWS_AS(eb.forward(Tensor<float>({1, 3, 2, 2})), ShapeError);
}

TEST_CASE("Training noise is uniform, seeded, and straight-through rounds", "[entropy]") {
  EntropyBottleneck<double> eb(1);
  Tensor<double> y({1, 1, 100, 100}, 0.25);
  eb.noise_rng().seed_with(4);
  Tensor<double> a = eb.forward(y);
  eb.noise_rng().seed_with(4);
  Tensor<double> b = eb.forward(y);
  CHECK(max_abs_diff(a, b) == 0.0);
  double mean = 0, lo = 1, hi = -1;
  for (index_t k = 0; k < a.numel(); ++k) {
    const double u = a[k] - 0.25;
    mean += u;
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  mean /= double(a.numel());
  CHECK(std::abs(mean) < 0.01);
  CHECK(lo >= -0.5);
  CHECK(hi < 0.5);
  CHECK(lo < -0.49);
  CHECK(hi > 0.49);
  EntropyBottleneck<double> ste(EntropyBottleneckOptions(1).quantization(TrainingQuantization::StraightThrough));
  const Tensor<double>& r = ste.forward(y);
  CHECK(r[0] == 0.0);
  Tensor<double> dy(y.shape(), 1.0);
  const Tensor<double>& g = ste.backward(dy);
  CHECK(g[0] == 1.0);
}

TEST_CASE("GaussianConditional likelihood and gradients", "[entropy][gradcheck]") {
  GaussianConditional<double> gc;
  Rng rng(2);
  Tensor<double> v({40}), s({40});
  v.fill_uniform(rng, -4, 4);
  s.fill_uniform(rng, 0.2, 3);
  s[0] = 0.05;  // below the scale bound 0.11
  v[1] = 0;
  const Tensor<double>& lik = gc.likelihood(v, s);
  CHECK(lik[1] == Approx(std::erf(0.5 / s[1] / std::sqrt(2.0))));
  CHECK(lik[0] == Approx(gc.likelihood(v, Tensor<double>({40}, 0.11))[0]));
  gc.likelihood(v, s);
  Tensor<double> r(v.shape());
  r.fill_uniform(rng, -1, 1);
  Tensor<double> dv, ds;
  gc.likelihood_backward(r, dv, ds);
  auto loss = [&]() {
    const Tensor<double>& l = gc.likelihood(v, s);
    double t = 0;
    for (index_t k = 0; k < l.numel(); ++k) t += r[k] * l[k];
    return t;
  };
  for (index_t k = 1; k < 40; ++k) {
    if (k != 1) CHECK(dv[k] == Approx(numeric(loss, v[k])).margin(1e-7));
    CHECK(ds[k] == Approx(numeric(loss, s[k])).margin(1e-7));
  }
  // Below the bound, the gradient passes only when it pushes the scale up.
  CHECK((ds[0] == 0.0 || ds[0] < 0));
}

TEST_CASE("GaussianConditional tables and indexes", "[entropy]") {
  GaussianConditional<double> gc;
  const auto& table = gc.options().scale_table();
  REQUIRE(table.size() == 64);
  CHECK(table.front() == Approx(0.11));
  CHECK(table.back() == Approx(256.0));
  auto tables = gc.tables();
  REQUIRE(tables.size() == 64);
  for (auto& t : tables) {
    double sum = t.tail_mass;
    for (double p : t.pmf) sum += p;
    CHECK(sum == Approx(1.0).epsilon(1e-9));
    CHECK(t.pmf.size() == static_cast<std::size_t>(-2 * t.offset + 1));
    CHECK(t.tail_mass < 2e-9);
  }
  Tensor<double> scales = Tensor<double>::from({4}, {0.01, 0.11, 0.12, 1000.0});
  CHECK(gc.build_indexes(scales) == std::vector<std::int32_t>{0, 0, 1, 63});
}

TEST_CASE("FactorizedPrior rate-distortion gradients", "[entropy][gradcheck]") {
  manual_seed(3);
  codec::FactorizedPrior<double> model(4, 5);
  Rng rng(1);
  for (auto& p : model.parameters())
    if (p.name.find("gamma") != std::string::npos) p.value->fill_uniform(rng, 0.05, 0.4);
  Tensor<double> x({1, 3, 16, 16});
  x.fill_uniform(rng, 0, 1);
  const double w = 1.0 / 256;
  Tensor<double> xh_grad;
  auto loss = [&]() {
    model.entropy_bottleneck().noise_rng().seed_with(5);
    const Tensor<double>& xh = model.forward(x);
    double mse = 0;
    for (index_t k = 0; k < xh.numel(); ++k) mse += (xh[k] - x[k]) * (xh[k] - x[k]);
    return 10 * mse / double(xh.numel()) + w * model.bits();
  };
  model.entropy_bottleneck().noise_rng().seed_with(5);
  const Tensor<double>& xh = model.forward(x);
  xh_grad.resize(xh.shape());
  for (index_t k = 0; k < xh.numel(); ++k) xh_grad[k] = 20 * (xh[k] - x[k]) / double(xh.numel());
  model.entropy_bottleneck().noise_rng().seed_with(5);
  model.forward(x);
  model.zero_grad();
  model.backward(xh_grad, w);
  int checked = 0;
  for (auto& p : model.parameters()) {
    if (p.name == "entropy_bottleneck.quantiles") continue;
    const Tensor<double> g = *p.grad;
    for (index_t k = 0; k < g.numel(); k += std::max<index_t>(1, g.numel() / 5)) {
      const double n = numeric(loss, (*p.value)[k]);
      INFO(p.name << "[" << k << "]");
      CHECK(g[k] == Approx(n).margin(1e-6).epsilon(1e-4));
      ++checked;
    }
  }
  CHECK(checked > 60);
  CHECK_THROWS_AS(model.forward(Tensor<double>({1, 3, 20, 16})), ShapeError);
}
