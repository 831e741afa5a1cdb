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
                     bool signed_zero) {
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
      CHECK(std::abs(a - e) <= 2e-6 * std::abs(e) + 1e-30);
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
