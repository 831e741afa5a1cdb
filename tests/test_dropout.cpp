#include <catch2/catch.hpp>

#include "cae/layers/dropout.hpp"
#include "gradcheck.hpp"

using namespace cae;

TEST_CASE("dropout zeros about p of the elements and scales the survivors", "[dropout]") {
  for (double p : {0.1, 0.3, 0.5, 0.8}) {
    Dropout<float> drop(p);
    drop.seed(42);
    Rng rng(1);
    Tensor<float> x({50, 4, 10, 10});  // 20000 elements
    x.fill_uniform(rng, 0.5, 1.5);     // never 0, so a 0 output means dropped
    const auto& y = drop.forward(x);
    index_t zeros = 0;
    bool scaled = true;
    for (index_t i = 0; i < x.numel(); ++i) {
      if (y[i] == 0.f) {
        ++zeros;
        scaled = scaled && drop.mask()[i] == 0.f;
      } else if (y[i] != x[i] * static_cast<float>(1 / (1 - p))) {
        scaled = false;
      }
    }
    CHECK(scaled);
    // Binomial standard deviation of the fraction: sqrt(p(1-p)/20000) < 0.0036.
    const double fraction = double(zeros) / double(x.numel());
    INFO("p = " << p << ", dropped fraction " << fraction);
    CHECK(std::abs(fraction - p) < 0.015);

    // Backward applies the same mask and scale.
    Tensor<float> dy({50, 4, 10, 10});
    dy.fill_uniform(rng, -1, 1);
    const auto& dx = drop.backward(dy);
    index_t wrong = 0;
    for (index_t i = 0; i < dy.numel(); ++i)
      wrong += dx[i] != (y[i] == 0.f ? 0.f : dy[i] * static_cast<float>(1 / (1 - p)));
    CHECK(wrong == 0);
  }
}

TEST_CASE("dropout edge probabilities and eval mode", "[dropout]") {
  Rng rng(2);
  Tensor<double> x({3, 7});
  x.fill_uniform(rng, -1, 1);
  Dropout<double> all(1.0);
  const auto& y = all.forward(x);
  for (double v : y) CHECK(v == 0.0);
  Dropout<double> none(0.0);
  CHECK(max_abs_diff(none.forward(x), x) == 0.0);

  Dropout<double> drop(0.5);
  drop.eval();
  const auto& e = drop.forward(x);
  CHECK(&e == &x);  // identity, without a copy
  Tensor<double> dy({3, 7}, 0.25);
  CHECK(&drop.backward(dy) == &dy);
  drop.train();
  CHECK(max_abs_diff(drop.forward(x), x) > 0.0);
}

TEST_CASE("dropout masks are reproducible from seeds", "[dropout]") {
  Tensor<float> x({4, 100}, 1.f);
  Dropout<float> a(0.5), b(0.5);
  a.seed(7);
  b.seed(7);
  const Tensor<float> ya = a.forward(x);
  CHECK(max_abs_diff(ya, b.forward(x)) == 0.f);
  // The next batch gets a fresh mask.
  CHECK(max_abs_diff(ya, a.forward(x)) > 0.f);

  // Default seeds come from the global generator: manual_seed replays them,
  // and two layers made in a row differ.
  manual_seed(123);
  Dropout<float> c(0.5), d(0.5);
  manual_seed(123);
  Dropout<float> c2(0.5);
  const Tensor<float> yc = c.forward(x);
  CHECK(max_abs_diff(yc, c2.forward(x)) == 0.f);
  CHECK(max_abs_diff(yc, d.forward(x)) > 0.f);

  // A frozen mask is reused until the shape changes.
  c.freeze_mask();
  const Tensor<float> f1 = c.forward(x);
  CHECK(max_abs_diff(f1, c.forward(x)) == 0.f);
  Tensor<float> other({2, 100}, 1.f);
  CHECK(c.forward(other).shape() == Shape{2, 100});
  c.freeze_mask(false);
  const Tensor<float> g1 = c.forward(other);
  CHECK(max_abs_diff(g1, c.forward(other)) > 0.f);
}

TEST_CASE("dropout describes itself and checks p", "[dropout]") {
  CHECK(Dropout<float>(0.3).describe() == "Dropout(p=0.3, inplace=False)");
  CHECK(Dropout<float>(0).describe() == "Dropout(p=0.0, inplace=False)");
  CHECK_THROWS_AS(Dropout<float>(1.5), Error);
  CHECK_THROWS_WITH(Dropout<float>(-0.1), Catch::Contains("[0, 1]") && Catch::Contains("-0.1"));
  Dropout<float> drop(0.5);
  Tensor<float> x({2, 3}, 1.f), bad({3, 2});
  drop.forward(x);
  CHECK_THROWS_WITH(drop.backward(bad), Catch::Contains("Dropout(p=0.5") && Catch::Contains("[3, 2]"));
}

TEST_CASE("dropout gradients", "[dropout][gradcheck]") {
  Dropout<double> eval_drop(0.4);
  eval_drop.eval();
  testing::check_module_gradients(eval_drop, {3, 5, 2, 3});
  // Training mode with the mask frozen: the check's many forwards see one mask.
  for (double p : {0.2, 0.5, 0.7}) {
    Dropout<double> drop(p);
    drop.seed(11).freeze_mask();
    testing::check_module_gradients(drop, {3, 5, 2, 3});
    testing::check_module_gradients(drop, {4, 9});
    // The mask really drops elements, so the check above was not the identity.
    index_t zeros = 0;
    for (double m : drop.mask()) zeros += m == 0.0;
    CHECK(zeros > 0);
  }
}
