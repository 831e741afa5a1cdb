#include <catch2/catch.hpp>

#include "cae/losses.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {
Tensor<double> uniform(const Shape& s, double low, double high, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<double> t(s);
  t.fill_uniform(rng, low, high);
  return t;
}
Tensor<double> class_indices(const Shape& s, int classes, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<double> t(s);
  for (double& v : t) v = static_cast<double>(rng.below(classes));
  return t;
}
}  // namespace

TEST_CASE("loss values by hand", "[losses]") {
  MSELoss<float> mse;
  CHECK(mse.describe() == "MSELoss()");
  auto p = Tensor<float>::from({2, 2}, {1.f, 2.f, 3.f, 4.f});
  auto t = Tensor<float>::from({2, 2}, {1.f, 0.f, 3.f, 5.f});
  CHECK(mse.forward(p, t) == Approx((4.f + 1.f) / 4));
  CHECK(mse.backward()[1] == Approx(2 * 2.f / 4));
  CHECK(mse.backward()[3] == Approx(2 * -1.f / 4));

  // A confident wrong answer costs 100 per element (PyTorch's log clamp), not infinity.
  BCELoss<float> bce;
  CHECK(bce.describe() == "BCELoss()");
  auto sure = Tensor<float>::from({1, 2}, {0.f, 1.f});
  auto wrong = Tensor<float>::from({1, 2}, {1.f, 0.f});
  CHECK(bce.forward(sure, wrong) == Approx(100.f));
  for (float g : bce.backward()) CHECK(std::isfinite(g));
  CHECK(bce.forward(sure, sure) == 0.f);
  auto half = Tensor<float>::from({1, 1}, {0.5f});
  auto one = Tensor<float>::from({1, 1}, {1.f});
  CHECK(bce.forward(half, one) == Approx(std::log(2.f)));
  CHECK(bce.backward()[0] == Approx(-2.f));

  BCEWithLogitsLoss<float> bcel;
  CHECK(bcel.describe() == "BCEWithLogitsLoss()");
  auto huge = Tensor<float>::from({1, 2}, {1000.f, -1000.f});
  auto zeros = Tensor<float>::from({1, 2}, {0.f, 0.f});
  CHECK(bcel.forward(huge, zeros) == Approx(500.f));  // (1000 + 0) / 2
  CHECK(bcel.backward()[0] == Approx(0.5f));           // (sigmoid(1000) - 0) / 2
  CHECK(bcel.backward()[1] == 0.f);

  CrossEntropyLoss<float> ce;
  CHECK(ce.describe() == "CrossEntropyLoss()");
  auto logits = Tensor<float>::from({2, 3}, {1.f, 2.f, 3.f, 0.f, 0.f, 0.f});
  auto target = Tensor<float>::from({2}, {2.f, 0.f});
  const float lse = std::log(std::exp(1.f) + std::exp(2.f) + std::exp(3.f));
  CHECK(ce.forward(logits, target) == Approx(((lse - 3.f) + std::log(3.f)) / 2));
  const auto& g = ce.backward();
  CHECK(g[2] == Approx((std::exp(3.f - lse) - 1) / 2));
  CHECK(g[4] == Approx((1.f / 3) / 2));
  auto huge_logits = Tensor<float>::from({1, 2}, {1e4f, -1e4f});
  auto second = Tensor<float>::from({1}, {1.f});
  CHECK(ce.forward(huge_logits, second) == Approx(2e4f));
}

TEST_CASE("losses reject bad input with clear messages", "[losses]") {
  MSELoss<float> mse;
  Tensor<float> a({2, 3}, 0.5f), b({3, 2}, 0.5f);
  CHECK_THROWS_AS(mse.forward(a, b), ShapeError);
  CHECK_THROWS_WITH(mse.forward(a, b), Catch::Contains("MSELoss()") &&
                                           Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
  CHECK_THROWS_WITH(MSELoss<float>().backward(), Catch::Contains("before forward"));

  BCELoss<float> bce;
  auto logits = Tensor<float>::from({1, 3}, {0.2f, 1.5f, 0.3f});
  Tensor<float> t({1, 3}, 1.f);
  CHECK_THROWS_WITH(bce.forward(logits, t), Catch::Contains("[0, 1]") && Catch::Contains("1.5") &&
                                                Catch::Contains("element 1"));
  logits[1] = std::nanf("");
  CHECK_THROWS_AS(bce.forward(logits, t), Error);

  CrossEntropyLoss<float> ce;
  Tensor<float> x({3, 4}, 0.f);
  auto fractional = Tensor<float>::from({3}, {0.f, 1.5f, 2.f});
  CHECK_THROWS_WITH(ce.forward(x, fractional),
                    Catch::Contains("target[1] = 1.5") && Catch::Contains("[0, 4)"));
  auto too_big = Tensor<float>::from({3}, {0.f, 1.f, 4.f});
  CHECK_THROWS_WITH(ce.forward(x, too_big), Catch::Contains("target[2] = 4"));
  auto negative = Tensor<float>::from({3}, {-1.f, 1.f, 2.f});
  CHECK_THROWS_WITH(ce.forward(x, negative), Catch::Contains("target[0] = -1"));
  Tensor<float> wrong_shape({3, 4}, 0.f);
  CHECK_THROWS_AS(ce.forward(x, wrong_shape), ShapeError);
  CHECK_THROWS_WITH(ce.forward(x, wrong_shape),
                    Catch::Contains("[3, 4]") && Catch::Contains("of shape [3]"));
  Tensor<float> flat({4}, 0.f), idx({4}, 0.f);
  CHECK_THROWS_WITH(ce.forward(flat, idx), Catch::Contains("[N, C]") && Catch::Contains("[4]"));
}

TEST_CASE("loss gradients", "[losses][gradcheck]") {
  MSELoss<double> mse;
  testing::check_loss_gradients(mse, uniform({3, 5}, -2, 2, 1), uniform({3, 5}, -1, 1, 2));
  testing::check_loss_gradients(mse, uniform({2, 3, 3, 4}, -2, 2, 3), uniform({2, 3, 3, 4}, -1, 1, 4));

  BCELoss<double> bce;
  testing::check_loss_gradients(bce, uniform({4, 7}, 0.05, 0.95, 5), uniform({4, 7}, 0, 1, 6));
  testing::check_loss_gradients(bce, uniform({2, 1, 3, 3}, 0.05, 0.95, 7),
                                class_indices({2, 1, 3, 3}, 2, 8));

  BCEWithLogitsLoss<double> bcel;
  testing::check_loss_gradients(bcel, uniform({5, 3}, -6, 6, 9), uniform({5, 3}, 0, 1, 10));
  testing::check_loss_gradients(bcel, uniform({2, 3, 2, 3}, -30, 30, 11),
                                class_indices({2, 3, 2, 3}, 2, 12));

  CrossEntropyLoss<double> ce;
  testing::check_loss_gradients(ce, uniform({5, 3}, -3, 3, 13), class_indices({5}, 3, 14));
  testing::check_loss_gradients(ce, uniform({7, 10}, -3, 3, 15), class_indices({7}, 10, 16));
  testing::check_loss_gradients(ce, uniform({2, 4, 3, 2}, -3, 3, 17), class_indices({2, 3, 2}, 4, 18));
}

TEST_CASE("loss parity with PyTorch", "[losses][parity]") {
  testing::check_loss_parity_cases("mse", []<typename T>(const testing::Fixture&) {
    return std::make_unique<MSELoss<T>>();
  });
  testing::check_loss_parity_cases("bce", []<typename T>(const testing::Fixture&) {
    return std::make_unique<BCELoss<T>>();
  });
  testing::check_loss_parity_cases("bce_with_logits", []<typename T>(const testing::Fixture&) {
    return std::make_unique<BCEWithLogitsLoss<T>>();
  });
  testing::check_loss_parity_cases("cross_entropy", []<typename T>(const testing::Fixture&) {
    return std::make_unique<CrossEntropyLoss<T>>();
  });
}
