#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <omp.h>
#include <string>
#include <vector>

#include "cae/optim/adadelta.hpp"
#include "cae/optim/adam.hpp"
#include "cae/optim/rmsprop.hpp"
#include "cae/optim/scheduler.hpp"
#include "cae/optim/sgd.hpp"
#include "parity.hpp"

using namespace cae;
using namespace cae::optim;

namespace {

// Parameters that live outside any module, as a test bench for optimizers.
template <typename T>
struct ParamSet {
  std::vector<Tensor<T>> values, grads;
  std::vector<std::string> names;

  void add(const std::string& name, Tensor<T> value) {
    names.push_back(name);
    grads.emplace_back(value.shape(), T(0));
    values.push_back(std::move(value));
  }
  // Call after the last add(): the pointers refer into the vectors.
  std::vector<Parameter<T>> parameters() {
    std::vector<Parameter<T>> out;
    for (std::size_t i = 0; i < values.size(); ++i) out.push_back({names[i], &values[i], &grads[i]});
    return out;
  }
};

// Every element within rtol of the expected value, relative to its magnitude
// (elements near zero are measured against the tensor's largest magnitude).
template <typename T>
void expect_close(const std::string& what, const Tensor<T>& actual, const Tensor<T>& expected,
                  double rtol) {
  INFO(what);
  REQUIRE(actual.shape() == expected.shape());
  double scale = 0;
  for (index_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::abs(double(expected[i])));
  index_t bad = 0, first = -1;
  for (index_t i = 0; i < expected.numel(); ++i) {
    const double a = actual[i], e = expected[i];
    if (!(std::abs(a - e) <= rtol * (std::abs(e) + 1e-3 * scale))) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  INFO("first difference at element " << first << ": "
       << (first >= 0 ? double(actual[first]) : 0.0) << " vs "
       << (first >= 0 ? double(expected[first]) : 0.0));
  CHECK(bad == 0);
}

template <typename T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name, const json::Value& o,
                                             std::vector<Parameter<T>> params, double lr) {
  auto num = [&](const char* key, double fallback) {
    return o.contains(key) ? o[key].as_number() : fallback;
  };
  auto flag = [&](const char* key) { return o.contains(key) && o[key].as_bool(); };
  if (name == "SGD")
    return std::make_unique<SGD<T>>(params, SGDOptions(lr)
                                                 .momentum(num("momentum", 0))
                                                 .dampening(num("dampening", 0))
                                                 .weight_decay(num("weight_decay", 0))
                                                 .nesterov(flag("nesterov")));
  if (name == "Adam" || name == "AdamW") {
    const double beta1 = o.contains("betas") ? o["betas"].as_array()[0].as_number() : 0.9;
    const double beta2 = o.contains("betas") ? o["betas"].as_array()[1].as_number() : 0.999;
    if (name == "Adam")
      return std::make_unique<Adam<T>>(params, AdamOptions(lr)
                                                   .betas(beta1, beta2)
                                                   .eps(num("eps", 1e-8))
                                                   .weight_decay(num("weight_decay", 0))
                                                   .amsgrad(flag("amsgrad")));
    AdamWOptions options(lr);
    options.betas(beta1, beta2).eps(num("eps", 1e-8)).amsgrad(flag("amsgrad"));
    if (o.contains("weight_decay")) options.weight_decay(num("weight_decay", 0));
    return std::make_unique<AdamW<T>>(params, options);
  }
  if (name == "Adadelta")
    return std::make_unique<Adadelta<T>>(params, AdadeltaOptions(lr)
                                                     .rho(num("rho", 0.9))
                                                     .eps(num("eps", 1e-6))
                                                     .weight_decay(num("weight_decay", 0)));
  if (name == "RMSprop")
    return std::make_unique<RMSprop<T>>(params, RMSpropOptions(lr)
                                                    .alpha(num("alpha", 0.99))
                                                    .eps(num("eps", 1e-8))
                                                    .weight_decay(num("weight_decay", 0))
                                                    .momentum(num("momentum", 0))
                                                    .centered(flag("centered")));
  FAIL("unknown optimizer " << name);
  return nullptr;
}

template <typename T>
void run_optimizer_fixture(const std::string& path) {
  INFO("fixture " << path << (sizeof(T) == 4 ? " (float)" : " (double)"));
  testing::Fixture f(path);
  const std::string name = f.config_string("optimizer");
  const json::Array& lrs = f.config["lr"].as_array();
  ParamSet<T> set;
  for (int i = 0; f.file.contains("param." + std::to_string(i)); ++i)
    set.add("p" + std::to_string(i), f.tensor<T>("param." + std::to_string(i)));
  REQUIRE(set.values.size() == 2);
  auto opt = make_optimizer<T>(name, f.config["options"], set.parameters(), lrs.at(0).as_number());
  REQUIRE(opt->name() == name);
  const std::string tag = sizeof(T) == 4 ? "f32." : "f64.";
  const double rtol = sizeof(T) == 4 ? 1e-5 : 1e-10;
  for (std::size_t k = 0; k < lrs.size(); ++k) {
    opt->set_lr(lrs[k].as_number());
    for (std::size_t i = 0; i < set.values.size(); ++i)
      set.grads[i] = f.tensor<T>("grad." + std::to_string(k) + "." + std::to_string(i));
    opt->step();
    CHECK(opt->step_count() == static_cast<std::int64_t>(k + 1));
    for (std::size_t i = 0; i < set.values.size(); ++i) {
      const std::string key = std::to_string(k) + "." + std::to_string(i);
      expect_close("step " + key, set.values[i], f.tensor<T>(tag + key), rtol);
    }
  }
}

}  // namespace

TEST_CASE("optimizers match PyTorch step by step", "[optim][parity]") {
  const auto files = testing::fixture_files("optim/optimizers");
  REQUIRE(files.size() >= 19);
  for (const auto& path : files) {
    run_optimizer_fixture<float>(path);
    run_optimizer_fixture<double>(path);
  }
}

TEST_CASE("optimizer updates by hand", "[optim]") {
  SECTION("SGD with momentum: the first step copies the gradient into the buffer") {
    ParamSet<double> s;
    s.add("w", Tensor<double>::from({2}, {1.0, -2.0}));
    SGD<double> sgd(s.parameters(), SGDOptions(0.1).momentum(0.9));
    s.grads[0] = Tensor<double>::from({2}, {0.5, 1.0});
    sgd.step();
    CHECK(s.values[0][0] == Approx(1.0 - 0.1 * 0.5));
    CHECK(s.values[0][1] == Approx(-2.0 - 0.1 * 1.0));
    sgd.step();  // buf = 0.9 * 0.5 + 0.5 = 0.95
    CHECK(s.values[0][0] == Approx(0.95 - 0.1 * 0.95));
    CHECK(sgd.step_count() == 2);
  }
  SECTION("SGD Nesterov looks ahead along the buffer") {
    ParamSet<double> s;
    s.add("w", Tensor<double>::from({1}, {0.0}));
    SGD<double> sgd(s.parameters(), SGDOptions(1.0).momentum(0.5).nesterov(true));
    s.grads[0][0] = 1.0;
    sgd.step();  // buf = 1, d = 1 + 0.5 * 1
    CHECK(s.values[0][0] == Approx(-1.5));
  }
  SECTION("Adam's first step moves each weight by lr against its gradient's sign") {
    ParamSet<double> s;
    s.add("w", Tensor<double>::from({3}, {1.0, 1.0, 1.0}));
    Adam<double> adam(s.parameters(), AdamOptions(0.01));
    s.grads[0] = Tensor<double>::from({3}, {4.0, -0.25, 1e-3});
    adam.step();
    for (int i = 0; i < 3; ++i) {
      const double g = s.grads[0][i];
      CHECK(s.values[0][i] == Approx(1.0 - 0.01 * g / (std::abs(g) + 1e-8)).epsilon(1e-12));
    }
  }
  SECTION("AdamW decays the weights even with a zero gradient, Adam's L2 term does not apply then") {
    ParamSet<double> a, b;
    a.add("w", Tensor<double>::from({1}, {2.0}));
    b.add("w", Tensor<double>::from({1}, {2.0}));
    AdamW<double> adamw(a.parameters(), AdamWOptions(0.1).weight_decay(0.5));
    adamw.step();
    CHECK(a.values[0][0] == Approx(2.0 * (1 - 0.1 * 0.5)));
    Adam<double> adam(b.parameters(), AdamOptions(0.1).weight_decay(0.5));
    adam.step();  // g = 0.5 * 2 = 1, a full lr step
    CHECK(b.values[0][0] == Approx(2.0 - 0.1).epsilon(1e-7));
  }
  SECTION("zero_grad clears every gradient") {
    ParamSet<float> s;
    s.add("a", Tensor<float>({2, 2}, 3.f));
    s.add("b", Tensor<float>({3}, 1.f));
    RMSprop<float> opt(s.parameters());
    s.grads[0].fill(1.f);
    s.grads[1].fill(-2.f);
    opt.zero_grad();
    for (auto& g : s.grads)
      for (float v : g) CHECK(v == 0.f);
  }
}

TEST_CASE("optimizer state is named per parameter", "[optim]") {
  ParamSet<float> s;
  s.add("0.weight", Tensor<float>({2, 3}, 1.f));
  s.add("0.bias", Tensor<float>({2}, 1.f));
  auto names = [](auto& opt) {
    std::vector<std::string> out;
    for (auto& t : opt.state()) out.push_back(t.name);
    return out;
  };
  Adam<float> adam(s.parameters(), AdamOptions().amsgrad(true));
  CHECK(names(adam) == std::vector<std::string>{"0.weight.exp_avg", "0.weight.exp_avg_sq",
                                                "0.weight.max_exp_avg_sq", "0.bias.exp_avg",
                                                "0.bias.exp_avg_sq", "0.bias.max_exp_avg_sq"});
  for (auto& t : adam.state()) {
    CHECK(t.value->shape() == (t.name.rfind("0.weight", 0) == 0 ? Shape{2, 3} : Shape{2}));
    for (float v : *t.value) CHECK(v == 0.f);
  }
  SGD<float> plain(s.parameters(), SGDOptions(0.1));
  CHECK(names(plain).empty());
  SGD<float> momentum(s.parameters(), SGDOptions(0.1).momentum(0.9));
  CHECK(names(momentum) == std::vector<std::string>{"0.weight.momentum_buffer", "0.bias.momentum_buffer"});
  Adadelta<float> adadelta(s.parameters());
  CHECK(names(adadelta) == std::vector<std::string>{"0.weight.square_avg", "0.weight.acc_delta",
                                                    "0.bias.square_avg", "0.bias.acc_delta"});
  RMSprop<float> rms(s.parameters(), RMSpropOptions().momentum(0.9).centered(true));
  CHECK(names(rms) == std::vector<std::string>{"0.weight.square_avg", "0.weight.momentum_buffer",
                                               "0.weight.grad_avg", "0.bias.square_avg",
                                               "0.bias.momentum_buffer", "0.bias.grad_avg"});
  // The state tensors are allocated once: stepping does not move them.
  const float* before = adam.state()[0].value->data();
  s.grads[0].fill(0.5f);
  adam.step();
  CHECK(adam.state()[0].value->data() == before);
  CHECK((*adam.state()[0].value)[0] == Approx(0.05f));  // (1 - 0.9) * 0.5
}

TEST_CASE("optimizer descriptions read like PyTorch's defaults", "[optim]") {
  ParamSet<float> s;
  s.add("w", Tensor<float>({1}, 0.f));
  CHECK(Adam<float>(s.parameters()).describe() ==
        "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0, amsgrad=False)");
  CHECK(AdamW<float>(s.parameters()).describe() ==
        "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01, amsgrad=False)");
  CHECK(SGD<float>(s.parameters(), SGDOptions(0.1).momentum(0.9).nesterov(true)).describe() ==
        "SGD(lr=0.1, momentum=0.9, dampening=0, weight_decay=0, nesterov=True)");
  CHECK(Adadelta<float>(s.parameters()).describe() ==
        "Adadelta(lr=1, rho=0.9, eps=1e-06, weight_decay=0)");
  CHECK(RMSprop<float>(s.parameters()).describe() ==
        "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, weight_decay=0, momentum=0, centered=False)");
}

TEST_CASE("optimizer input checks", "[optim][errors]") {
  ParamSet<float> s;
  s.add("enc.weight", Tensor<float>({2, 2}, 1.f));
  auto throws_with = [](auto make, const std::string& text) {
    try {
      make();
      FAIL("expected an exception mentioning: " << text);
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(text) != std::string::npos);
    }
  };
  throws_with([&] { SGD<float>(s.parameters(), SGDOptions(0.1).nesterov(true)); },
              "SGD: Nesterov momentum requires a momentum and zero dampening");
  throws_with([&] { SGD<float>(s.parameters(), SGDOptions(-0.1)); }, "SGD: invalid learning rate -0.1");
  throws_with([&] { SGD<float>(s.parameters(), SGDOptions(0.1).momentum(-1)); }, "SGD: invalid momentum -1");
  throws_with([&] { Adam<float>(s.parameters(), AdamOptions().betas(0.9, 1.0)); }, "Adam: invalid beta2 1");
  throws_with([&] { AdamW<float>(s.parameters(), AdamWOptions().eps(-1)); }, "AdamW: invalid eps -1");
  throws_with([&] { Adadelta<float>(s.parameters(), AdadeltaOptions().rho(1.5)); }, "Adadelta: invalid rho 1.5");
  throws_with([&] { RMSprop<float>(s.parameters(), RMSpropOptions().alpha(-0.5)); }, "RMSprop: invalid alpha -0.5");
  throws_with([&] { Adam<float>(std::vector<Parameter<float>>{}); }, "Adam: got an empty parameter list");
  throws_with([&] {
    auto params = s.parameters();
    params.push_back(params[0]);
    Adam<float> adam(params);
  }, "two parameters are named 'enc.weight'");

  Adam<float> adam(s.parameters());
  throws_with([&] { adam.set_lr(-1); }, "invalid learning rate -1");
  CHECK(adam.lr() == 0.001);
  s.grads[0].resize({4});
  throws_with([&] { adam.step(); }, "parameter 'enc.weight' has shape [2, 2] but its gradient has shape [4]");
  CHECK(adam.step_count() == 0);
  CHECK_THROWS_AS(adam.step(), ShapeError);
}

TEST_CASE("optimizer results do not depend on the thread count", "[optim]") {
  // Large enough for the OpenMP loop to run in parallel.
  const index_t n = 100003;
  auto run = [&](int threads) {
    ParamSet<float> s;
    Tensor<float> w({n});
    Rng rng(7);
    w.fill_uniform(rng, -1, 1);
    s.add("w", w);
    Adam<float> adam(s.parameters(), AdamOptions(0.01).weight_decay(0.1).amsgrad(true));
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    for (int k = 0; k < 3; ++k) {
      s.grads[0].fill_normal(rng, 0, 1);
      adam.step();
    }
    omp_set_num_threads(saved);
    return s.values[0];
  };
  const Tensor<float> one = run(1), two = run(2);
  CHECK(std::memcmp(one.data(), two.data(), sizeof(float) * n) == 0);
  CHECK(max_abs_diff(one, two) == 0.f);
}

namespace {

void run_scheduler_fixture(const std::string& path) {
  INFO("fixture " << path);
  testing::Fixture f(path);
  const Tensor<double> expected = f.tensor<double>("lr");
  ParamSet<double> s;
  s.add("w", Tensor<double>({1}, 0.0));
  SGD<double> sgd(s.parameters(), SGDOptions(f.config_double("lr")));
  const std::string kind = f.config_string("scheduler");
  auto num = [&](const char* key, double fallback) { return f.has(key) ? f.config_double(key) : fallback; };
  std::vector<double> lrs{sgd.lr()};
  const index_t epochs = expected.numel() - 1;
  if (kind == "StepLR") {
    StepLR sched(sgd, f.config_int("step_size"), num("gamma", 0.1));
    for (index_t e = 0; e < epochs; ++e) {
      sched.step();
      lrs.push_back(sched.get_last_lr());
    }
    CHECK(sched.last_epoch() == epochs);
  } else if (kind == "CosineAnnealingLR") {
    CosineAnnealingLR sched(sgd, f.config_int("T_max"), num("eta_min", 0));
    for (index_t e = 0; e < epochs; ++e) {
      sched.step();
      lrs.push_back(sgd.lr());
    }
  } else {
    REQUIRE(kind == "ReduceLROnPlateau");
    auto options = ReduceLROnPlateauOptions()
                       .factor(num("factor", 0.1))
                       .patience(static_cast<std::int64_t>(num("patience", 10)))
                       .threshold(num("threshold", 1e-4))
                       .cooldown(static_cast<std::int64_t>(num("cooldown", 0)))
                       .min_lr(num("min_lr", 0));
    if (f.has("mode")) options.mode(f.config_string("mode") == "max" ? PlateauMode::max : PlateauMode::min);
    if (f.has("threshold_mode"))
      options.threshold_mode(f.config_string("threshold_mode") == "abs" ? ThresholdMode::abs : ThresholdMode::rel);
    ReduceLROnPlateau sched(sgd, options);
    const Tensor<double> metric = f.tensor<double>("metric");
    REQUIRE(metric.numel() == epochs);
    for (index_t e = 0; e < epochs; ++e) {
      sched.step(metric[e]);
      lrs.push_back(sgd.lr());
    }
  }
  REQUIRE(static_cast<index_t>(lrs.size()) == expected.numel());
  for (index_t e = 0; e < expected.numel(); ++e) {
    INFO("epoch " << e);
    CHECK(lrs[e] == Approx(expected[e]).epsilon(1e-13).margin(0));
  }
}

}  // namespace

TEST_CASE("schedulers match PyTorch's lr sequences", "[optim][scheduler][parity]") {
  const auto files = testing::fixture_files("optim/schedulers");
  REQUIRE(files.size() >= 7);
  for (const auto& path : files) run_scheduler_fixture(path);
}

TEST_CASE("schedulers by hand", "[optim][scheduler]") {
  ParamSet<float> s;
  s.add("w", Tensor<float>({1}, 0.f));
  SECTION("StepLR multiplies every step_size epochs and keeps outside changes") {
    SGD<float> sgd(s.parameters(), SGDOptions(1.0));
    StepLR sched(sgd, 2, 0.5);
    CHECK(sgd.lr() == 1.0);  // constructing leaves the lr alone
    sched.step();
    CHECK(sgd.lr() == 1.0);
    sched.step();
    CHECK(sgd.lr() == 0.5);
    sgd.set_lr(0.1);
    sched.step();
    sched.step();
    CHECK(sgd.lr() == Approx(0.05));
  }
  SECTION("CosineAnnealingLR reaches eta_min at T_max and the initial lr at 2 T_max") {
    SGD<float> sgd(s.parameters(), SGDOptions(0.2));
    CosineAnnealingLR sched(sgd, 4, 0.02);
    sched.step();
    CHECK(sgd.lr() == Approx(0.02 + 0.18 * (1 + std::cos(M_PI / 4)) / 2));
    for (int e = 2; e <= 4; ++e) sched.step();
    CHECK(sgd.lr() == Approx(0.02));
    for (int e = 5; e <= 8; ++e) sched.step();
    CHECK(sgd.lr() == Approx(0.2));
  }
  SECTION("ReduceLROnPlateau waits for patience, respects cooldown and min_lr") {
    SGD<float> sgd(s.parameters(), SGDOptions(1.0));
    ReduceLROnPlateau sched(sgd, ReduceLROnPlateauOptions().patience(1).factor(0.5).cooldown(1).min_lr(0.3));
    sched.step(1.0);  // best
    sched.step(1.0);  // bad 1
    CHECK(sgd.lr() == 1.0);
    sched.step(1.0);  // bad 2 > patience: reduce, cooldown 1
    CHECK(sgd.lr() == 0.5);
    sched.step(1.0);  // cooldown
    sched.step(1.0);  // bad 1
    CHECK(sgd.lr() == 0.5);
    sched.step(1.0);  // bad 2: max(0.25, 0.3)
    CHECK(sgd.lr() == 0.3);
    CHECK(sched.best() == 1.0);
    sched.step(0.5);
    CHECK(sched.best() == 0.5);
    CHECK(sched.num_bad_epochs() == 0);
  }
  SECTION("errors") {
    SGD<float> sgd(s.parameters(), SGDOptions(1.0));
    CHECK_THROWS_WITH(StepLR(sgd, 0), Catch::Contains("StepLR: step_size must be positive, got 0"));
    CHECK_THROWS_WITH(CosineAnnealingLR(sgd, -3), Catch::Contains("T_max must be positive, got -3"));
    CHECK_THROWS_WITH(ReduceLROnPlateau(sgd, ReduceLROnPlateauOptions().factor(1.0)),
                      Catch::Contains("factor should be < 1.0, got 1"));
    StepLR sched(sgd, 2);
    CHECK_THROWS_WITH(sched.load_state({}), Catch::Contains("StepLR: saved state has no 'last_epoch'"));
  }
}

TEST_CASE("scheduler state restores an interrupted schedule", "[optim][scheduler]") {
  const std::vector<double> metrics{5, 4, 4, 4, 4, 3.9, 3.9, 3.9, 3.9, 3.9, 3, 3, 3, 3, 3, 3};
  ParamSet<float> s;
  s.add("w", Tensor<float>({1}, 0.f));
  auto options = ReduceLROnPlateauOptions().patience(2).cooldown(1).factor(0.5);
  SGD<float> sgd(s.parameters(), SGDOptions(0.8));
  ReduceLROnPlateau full(sgd, options);
  std::vector<double> expected;
  for (double m : metrics) {
    full.step(m);
    expected.push_back(sgd.lr());
  }
  CHECK(expected.back() < 0.8);
  // Stop after 7 epochs, then resume from the saved state into fresh objects.
  SGD<float> first(s.parameters(), SGDOptions(0.8));
  ReduceLROnPlateau before(first, options);
  for (int e = 0; e < 7; ++e) before.step(metrics[e]);
  SGD<float> second(s.parameters(), SGDOptions(0.8));
  second.set_lr(first.lr());
  ReduceLROnPlateau after(second, options);
  after.load_state(before.state());
  for (std::size_t e = 7; e < metrics.size(); ++e) {
    after.step(metrics[e]);
    CHECK(second.lr() == expected[e]);
  }
  CHECK(after.last_epoch() == static_cast<std::int64_t>(metrics.size()));

  SGD<float> c1(s.parameters(), SGDOptions(0.5)), c2(s.parameters(), SGDOptions(0.5));
  CosineAnnealingLR cos1(c1, 6, 0.01);
  for (int e = 0; e < 4; ++e) cos1.step();
  c2.set_lr(c1.lr());
  CosineAnnealingLR cos2(c2, 6, 0.01);
  cos2.load_state(cos1.state());
  for (int e = 0; e < 5; ++e) {
    cos1.step();
    cos2.step();
    CHECK(c2.lr() == c1.lr());
  }
}
