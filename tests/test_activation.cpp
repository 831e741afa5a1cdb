#include <catch2/catch.hpp>

#include "cae/layers/activation.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

TEST_CASE("activation forward values", "[activation]") {
  auto x = Tensor<float>::from({1, 4}, {-2.f, -0.5f, 0.f, 3.f});
  ReLU<float> relu;
  const auto& r = relu.forward(x);
  CHECK(std::vector<float>(r.begin(), r.end()) == std::vector<float>{0, 0, 0, 3});
  LeakyReLU<float> leaky(0.1);
  const auto& l = leaky.forward(x);
  CHECK(l[0] == Approx(-0.2f));
  CHECK(l[3] == Approx(3.f));
  Sigmoid<float> sig;
  CHECK(sig.forward(x)[2] == Approx(0.5f));
  // Large negative inputs must not overflow to NaN.
  auto big = Tensor<float>::from({1, 2}, {-1000.f, 1000.f});
  const auto& s = sig.forward(big);
  CHECK(s[0] == 0.f);
  CHECK(s[1] == 1.f);
  Tanh<float> tanh_layer;
  CHECK(tanh_layer.forward(x)[3] == Approx(std::tanh(3.f)));
}

TEST_CASE("activation gradients", "[activation][gradcheck]") {
  ReLU<double> relu;
  LeakyReLU<double> leaky(0.2);
  Sigmoid<double> sig;
  Tanh<double> th;
  for (Module<double>* m : std::vector<Module<double>*>{&relu, &leaky, &sig, &th}) {
    testing::check_module_gradients(*m, {2, 3, 5, 4});
    testing::check_module_gradients(*m, {3, 7});
  }
}

TEST_CASE("activation parity with PyTorch", "[activation][parity]") {
  testing::check_parity_cases("relu", []<typename T>(const testing::Fixture&) {
    return std::make_unique<ReLU<T>>();
  });
  testing::check_parity_cases("leaky_relu", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<LeakyReLU<T>>(f.config_double("negative_slope"));
  });
  testing::check_parity_cases("sigmoid", []<typename T>(const testing::Fixture&) {
    return std::make_unique<Sigmoid<T>>();
  });
  testing::check_parity_cases("tanh", []<typename T>(const testing::Fixture&) {
    return std::make_unique<Tanh<T>>();
  });
}

namespace {
// Element by element: NaN where PyTorch has NaN, the same infinities, finite
// values within a few float roundings, and (where asked) the sign of zero.
template <typename T>
void check_nonfinite(const std::string& what, const Tensor<T>& actual, const Tensor<double>& expected,
                     bool signed_zero, double atol = 1e-30) {
  REQUIRE(actual.shape() == expected.shape());
  for (index_t i = 0; i < expected.numel(); ++i) {
    const double a = actual[i], e = expected[i];
    INFO(what << " element " << i << ": " << a << " vs PyTorch " << e);
    if (std::isnan(e)) {
      CHECK(std::isnan(a));
    } else if (std::isinf(e)) {
      CHECK(a == e);
    } else if (signed_zero && e == 0) {
      CHECK(a == 0);
      CHECK(std::signbit(a) == std::signbit(e));
    } else {
      // Finite values as the parity tests compare them; the absolute part lets
      // through the float rounding of a subnormal input and Eigen's exp(), which
      // gives a subnormal where std::exp underflows to 0.
      CHECK(std::abs(a - e) <= 2e-6 * std::abs(e) + atol);
    }
  }
}

template <typename T>
void check_nonfinite_case(const std::string& name, Module<T>& m) {
  testing::Fixture f(testing::fixture_dir() + "/activation_nonfinite/" + name + ".safetensors");
  const Tensor<T> x = f.tensor<T>("input");
  m.set_input_grad(true);
  m.build(x.shape().drop_front());
  const Tensor<T> y = m.forward(x);
  const Tensor<T> dx = m.backward(f.tensor<T>("grad_output"));
  const bool relu_like = name == "relu" || name == "leaky_relu";
  check_nonfinite(name + " forward", y, f.tensor<double>("output"), relu_like);
  check_nonfinite(name + " backward", dx, f.tensor<double>("grad_input"), relu_like);
}

template <typename T>
void check_all_nonfinite() {
  ReLU<T> relu;
  LeakyReLU<T> leaky(0.1);
  Sigmoid<T> sig;
  Tanh<T> th;
  check_nonfinite_case<T>("relu", relu);
  check_nonfinite_case<T>("leaky_relu", leaky);
  check_nonfinite_case<T>("sigmoid", sig);
  check_nonfinite_case<T>("tanh", th);
}
}  // namespace

TEST_CASE("activations treat NaN, infinities and -0 as PyTorch does", "[activation][parity]") {
  SECTION("double") { check_all_nonfinite<double>(); }
  SECTION("float") { check_all_nonfinite<float>(); }
  // The case that once hid divergence: ReLU turned NaN into 0 in both passes.
  ReLU<float> relu;
  auto x = Tensor<float>::from({1, 2}, {std::nanf(""), -1.f});
  relu.build(Shape{2});
  CHECK(std::isnan(relu.forward(x)[0]));
  auto dy = Tensor<float>::from({1, 2}, {std::nanf(""), 1.f});
  CHECK(std::isnan(relu.backward(dy)[0]));
}

// ---------------------------------------------------------------------------
// GELU, SiLU, ELU, SELU, Softplus, Hardswish, Hardsigmoid, Mish, PReLU.

TEST_CASE("modern activations print like PyTorch and reject bad options", "[activation]") {
  CHECK(GELU<float>().describe() == "GELU(approximate='none')");
  CHECK(GELU<float>(GELUOptions().approximate("tanh")).describe() == "GELU(approximate='tanh')");
  CHECK(SiLU<float>().describe() == "SiLU()");
  CHECK(ELU<float>().describe() == "ELU(alpha=1.0)");
  CHECK(ELU<float>(ELUOptions().alpha(0.5)).describe() == "ELU(alpha=0.5)");
  CHECK(SELU<float>().describe() == "SELU()");
  CHECK(Softplus<float>().describe() == "Softplus(beta=1, threshold=20)");
  CHECK(Softplus<float>(SoftplusOptions().beta(0.5).threshold(10)).describe() ==
        "Softplus(beta=0.5, threshold=10)");
  CHECK(Hardswish<float>().describe() == "Hardswish()");
  CHECK(Hardsigmoid<float>().describe() == "Hardsigmoid()");
  CHECK(Mish<float>().describe() == "Mish()");
  CHECK(PReLU<float>().describe() == "PReLU(num_parameters=1)");

  CHECK_THROWS_WITH(GELU<float>(GELUOptions().approximate("erf")),
                    Catch::Contains("GELU") && Catch::Contains("'none' or 'tanh'") && Catch::Contains("'erf'"));
  CHECK_THROWS_WITH(ELU<float>(std::nan("")), Catch::Contains("ELU: alpha must be finite"));
  CHECK_THROWS_WITH(Softplus<float>(SoftplusOptions().beta(0)), Catch::Contains("Softplus(beta=0") &&
                                                                     Catch::Contains("non-zero"));
  CHECK_THROWS_WITH(PReLU<float>(PReLUOptions().num_parameters(0)),
                    Catch::Contains("PReLU: num_parameters must be positive"));
}

TEST_CASE("PReLU: weight named and initialised as PyTorch's, channels checked", "[activation]") {
  PReLU<float> shared;
  auto params = shared.parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "weight");
  CHECK(params[0].value->shape() == Shape{1});
  CHECK((*params[0].value)[0] == 0.25f);
  PReLU<float> per_channel(PReLUOptions().num_parameters(3).init(0.1));
  CHECK(per_channel.weight().shape() == Shape{3});
  CHECK(per_channel.weight()[2] == Approx(0.1f));
  CHECK(per_channel.build(Shape{3, 4, 4}) == Shape{3, 4, 4});
  CHECK_THROWS_AS(per_channel.build(Shape{4, 4, 4}), ShapeError);
  CHECK_THROWS_WITH(per_channel.build(Shape{4, 4, 4}),
                    Catch::Contains("PReLU(num_parameters=3)") && Catch::Contains("4 channels"));
  Tensor<float> x({2, 5}, 1.f);
  CHECK_THROWS_WITH(per_channel.forward(x), Catch::Contains("[2, 5]") && Catch::Contains("5 channels"));
  // One shared slope works on any input, [N] included.
  Tensor<float> v = Tensor<float>::from({3}, {-2.f, 0.f, 4.f});
  shared.build(Shape{});
  const auto& y = shared.forward(v);
  CHECK(y[0] == Approx(-0.5f));
  CHECK(y[2] == 4.f);
}

TEST_CASE("modern activations: values at known points", "[activation]") {
  auto x = Tensor<double>::from({1, 5}, {-4.0, -1.0, 0.0, 1.0, 4.0});
  auto run = [&](Module<double>&& m) { return Tensor<double>(m.forward(x)); };
  const double phi1 = 0.5 * (1 + std::erf(1 / std::sqrt(2.0)));
  CHECK(run(GELU<double>())[3] == Approx(phi1));
  CHECK(run(GELU<double>())[1] == Approx(-(1 - phi1)));
  CHECK(run(SiLU<double>())[3] == Approx(1 / (1 + std::exp(-1.0))));
  CHECK(run(ELU<double>(0.5))[1] == Approx(0.5 * (std::exp(-1.0) - 1)));
  CHECK(run(ELU<double>(0.5))[4] == 4.0);
  CHECK(run(SELU<double>())[3] == Approx(kernels::kSeluScale));
  CHECK(run(Softplus<double>())[2] == Approx(std::log(2.0)));
  // beta * x > threshold: the identity.
  CHECK(run(Softplus<double>(SoftplusOptions().beta(2).threshold(3)))[4] == 4.0);
  const Tensor<double> hs = run(Hardswish<double>());
  CHECK(hs[0] == 0.0);
  CHECK(hs[3] == Approx(1.0 * 4 / 6));
  CHECK(hs[4] == 4.0);
  const Tensor<double> hsig = run(Hardsigmoid<double>());
  CHECK(hsig[0] == 0.0);
  CHECK(hsig[2] == 0.5);
  CHECK(hsig[4] == 1.0);
  CHECK(run(Mish<double>())[3] == Approx(std::tanh(std::log1p(std::exp(1.0)))));
}

TEST_CASE("modern activation gradients", "[activation][gradcheck]") {
  std::vector<std::unique_ptr<Module<double>>> layers;
  layers.push_back(std::make_unique<GELU<double>>());
  layers.push_back(std::make_unique<GELU<double>>(GELUOptions().approximate("tanh")));
  layers.push_back(std::make_unique<SiLU<double>>());
  layers.push_back(std::make_unique<ELU<double>>(0.7));
  layers.push_back(std::make_unique<SELU<double>>());
  layers.push_back(std::make_unique<Softplus<double>>());
  layers.push_back(std::make_unique<Softplus<double>>(SoftplusOptions().beta(2).threshold(3)));
  layers.push_back(std::make_unique<Hardswish<double>>());
  layers.push_back(std::make_unique<Hardsigmoid<double>>());
  layers.push_back(std::make_unique<Mish<double>>());
  layers.push_back(std::make_unique<PReLU<double>>());
  layers.push_back(std::make_unique<PReLU<double>>(PReLUOptions().num_parameters(3)));
  // [-5, 5] reaches the kinks at +-3 and Softplus's threshold; a central
  // difference across a kink would fail, and with this seed none is within eps.
  testing::GradcheckOptions wide;
  wide.input_low = -5;
  wide.input_high = 5;
  for (auto& m : layers) {
    INFO(m->describe());
    testing::check_module_gradients(*m, {2, 3, 5, 4});
    testing::check_module_gradients(*m, {2, 3, 5, 4}, wide);
    testing::check_module_gradients(*m, {4, 3});
  }
}

TEST_CASE("modern activation parity with PyTorch", "[activation][parity]") {
  using testing::Fixture;
  testing::check_parity_cases("gelu", []<typename T>(const Fixture& f) {
    return std::make_unique<GELU<T>>(GELUOptions().approximate(f.config_string("approximate")));
  });
  testing::check_parity_cases("silu", []<typename T>(const Fixture&) { return std::make_unique<SiLU<T>>(); });
  testing::check_parity_cases("elu", []<typename T>(const Fixture& f) {
    return std::make_unique<ELU<T>>(f.config_double("alpha"));
  });
  testing::check_parity_cases("selu", []<typename T>(const Fixture&) { return std::make_unique<SELU<T>>(); });
  testing::check_parity_cases("softplus", []<typename T>(const Fixture& f) {
    return std::make_unique<Softplus<T>>(
        SoftplusOptions().beta(f.config_double("beta")).threshold(f.config_double("threshold")));
  });
  testing::check_parity_cases("hardswish", []<typename T>(const Fixture&) {
    return std::make_unique<Hardswish<T>>();
  });
  testing::check_parity_cases("hardsigmoid", []<typename T>(const Fixture&) {
    return std::make_unique<Hardsigmoid<T>>();
  });
  testing::check_parity_cases("mish", []<typename T>(const Fixture&) { return std::make_unique<Mish<T>>(); });
  testing::check_parity_cases("prelu", []<typename T>(const Fixture& f) {
    return std::make_unique<PReLU<T>>(PReLUOptions().num_parameters(f.config_int("num_parameters")));
  });
}

namespace {
// The fixture written by gen_activation_nan.py for the later activations: one
// run of PyTorch in double and one in float, each compared with cae's in the same type.
template <typename T>
void check_modern_nonfinite_case(const std::string& name, Module<T>& m) {
  INFO(name << (sizeof(T) == 4 ? " in float" : " in double"));
  testing::Fixture f(testing::fixture_dir() + "/activation_nonfinite/" + name + ".safetensors");
  const std::string suffix = sizeof(T) == 4 ? "_f32" : "";
  const Tensor<T> x = f.tensor<T>("input" + suffix);
  m.build(x.shape().drop_front());
  for (auto& p : m.parameters()) *p.value = f.tensor<T>("param." + p.name + suffix);
  m.zero_grad();
  const Tensor<T> y = m.forward(x);
  const Tensor<T> dx = m.backward(f.tensor<T>("grad_output"));
  // In float, PyTorch's vectorized erf / exp / tanh are not glibc's: values
  // where 1 + erf(x) cancels differ by ~1e-7 absolute, and zeros by sign. In
  // double the sign of every zero is PyTorch's.
  const bool is_double = sizeof(T) == 8;
  const double atol = is_double ? 1e-30 : 1e-6;
  check_nonfinite(name + " forward", y, f.tensor<double>("output" + suffix), is_double, atol);
  check_nonfinite(name + " backward", dx, f.tensor<double>("grad_input" + suffix), is_double, atol);
  for (auto& p : m.parameters())
    check_nonfinite(name + " grad " + p.name, *p.grad, f.tensor<double>("grad." + p.name + suffix), false,
                    atol);
}

template <typename T>
void check_all_modern_nonfinite() {
  GELU<T> gelu;
  GELU<T> gelu_tanh(GELUOptions().approximate("tanh"));
  SiLU<T> silu;
  ELU<T> elu(0.7);
  SELU<T> selu;
  Softplus<T> softplus(SoftplusOptions().beta(2).threshold(10));
  Hardswish<T> hardswish;
  Hardsigmoid<T> hardsigmoid;
  Mish<T> mish;
  PReLU<T> prelu;
  check_modern_nonfinite_case<T>("gelu", gelu);
  check_modern_nonfinite_case<T>("gelu_tanh", gelu_tanh);
  check_modern_nonfinite_case<T>("silu", silu);
  check_modern_nonfinite_case<T>("elu", elu);
  check_modern_nonfinite_case<T>("selu", selu);
  check_modern_nonfinite_case<T>("softplus", softplus);
  check_modern_nonfinite_case<T>("hardswish", hardswish);
  check_modern_nonfinite_case<T>("hardsigmoid", hardsigmoid);
  check_modern_nonfinite_case<T>("mish", mish);
  check_modern_nonfinite_case<T>("prelu", prelu);
}
}  // namespace

TEST_CASE("modern activations treat NaN, infinities and overflow as PyTorch does", "[activation][parity]") {
  SECTION("double") { check_all_modern_nonfinite<double>(); }
  SECTION("float") { check_all_modern_nonfinite<float>(); }
}

TEST_CASE("PReLU's weight gradient does not depend on the thread count", "[activation]") {
  Rng rng(3);
  // Above kElementwiseGrain elements, so that the kernels do run in parallel.
  Tensor<float> x({8, 4, 100, 100}), dy({8, 4, 100, 100});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  const int saved = num_threads();
  auto run = [&](int threads, index_t weights) {
    set_num_threads(threads);
    PReLU<float> p(PReLUOptions().num_parameters(weights));
    p.forward(x);
    return std::make_pair(Tensor<float>(p.backward(dy)), Tensor<float>(*p.parameters()[0].grad));
  };
  for (index_t weights : {1, 4}) {
    const auto one = run(1, weights), three = run(3, weights);
    CHECK(max_abs_diff(one.first, three.first) == 0.f);
    CHECK(max_abs_diff(one.second, three.second) == 0.f);
  }
  set_num_threads(saved);
}
