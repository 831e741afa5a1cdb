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
