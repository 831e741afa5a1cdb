#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "cae/layers/linear.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {
template <typename T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T> t(shape);
  t.fill_uniform(rng, T(-1), T(1));
  return t;
}
template <typename T>
bool bitwise_equal(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.numel()) == 0;
}
}  // namespace

TEST_CASE("Linear shapes, inference and describe()", "[linear]") {
  Linear<float> fc(LinearOptions(400, 120));
  CHECK(fc.describe() == "Linear(in_features=400, out_features=120, bias=True)");
  CHECK(fc.weight().shape() == Shape{120, 400});
  CHECK(fc.bias().shape() == Shape{120});
  CHECK(fc.build({400}) == Shape{120});
  CHECK(fc.build({7, 400}) == Shape{7, 120});  // [N, *, in]

  Linear<float> lazy(10);
  CHECK(lazy.describe() == "Linear(in_features=?, out_features=10, bias=True)");
  CHECK(lazy.parameters().empty());
  CHECK(lazy.build({84}) == Shape{10});
  CHECK(lazy.build({84}) == Shape{10});  // idempotent
  CHECK(lazy.in_features() == 84);
  CHECK(lazy.describe() == "Linear(in_features=84, out_features=10, bias=True)");
  auto params = lazy.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  CHECK(params[0].value->shape() == Shape{10, 84});

  Linear<float> nobias(LinearOptions(0, 3).bias(false));
  CHECK(nobias.build({5}) == Shape{3});
  CHECK(nobias.parameters().size() == 1);
  CHECK(nobias.describe() == "Linear(in_features=5, out_features=3, bias=False)");

  Linear<float> pair(4, 2);
  CHECK(pair.in_features() == 4);

  // In a Sequential the size is inferred from the previous layer.
  Sequential<float> net(Shape{16});
  net.add(Linear<float>(8));
  net.add(Linear<float>(3));
  CHECK(net.output_shape() == Shape{3});
  CHECK(net.num_parameters() == 16 * 8 + 8 + 8 * 3 + 3);
}

TEST_CASE("Linear initializes like torch: U(-1/sqrt(in), 1/sqrt(in))", "[linear]") {
  manual_seed(3);
  Linear<double> fc(LinearOptions(25, 40));
  const double bound = 1.0 / 5.0;
  double wmin = 1, wmax = -1, bmin = 1, bmax = -1;
  for (double v : fc.weight()) wmin = std::min(wmin, v), wmax = std::max(wmax, v);
  for (double v : fc.bias()) bmin = std::min(bmin, v), bmax = std::max(bmax, v);
  CHECK(wmin >= -bound);
  CHECK(wmax <= bound);
  CHECK(wmin < -0.9 * bound);  // 1000 draws reach close to both ends
  CHECK(wmax > 0.9 * bound);
  CHECK(bmin >= -bound);
  CHECK(bmax <= bound);
  CHECK(bmin < bmax);
}

TEST_CASE("Linear errors name the layer and the shapes", "[linear][errors]") {
  using Catch::Matchers::Contains;
  Linear<float> fc(LinearOptions(4, 3));
  CHECK_THROWS_WITH(fc.build({5}), Contains("Linear(in_features=4, out_features=3, bias=True)") &&
                                       Contains("[-1, 5]"));
  Tensor<float> x({2, 5});
  CHECK_THROWS_WITH(fc.forward(x), Contains("Linear(in_features=4") && Contains("[2, 5]"));
  Tensor<float> scalarish({2});
  CHECK_THROWS_AS(fc.forward(scalarish), ShapeError);
  CHECK_THROWS_WITH(Linear<float>(LinearOptions(4, 0)), Contains("out_features must be positive"));
  CHECK_THROWS_AS(Linear<float>(LinearOptions(-1, 2)), Error);
  Tensor<float> ok({2, 4}, 1.f);
  fc.forward(ok);
  Tensor<float> wrong({2, 4});
  CHECK_THROWS_WITH(fc.backward(wrong), Contains("gradient shape [2, 4]") && Contains("[2, 3]"));
  Linear<float> lazy(3);
  CHECK_THROWS_AS(lazy.build(Shape{}), ShapeError);
}

TEST_CASE("Linear forward values and accumulated gradients", "[linear]") {
  Linear<double> fc(LinearOptions(2, 2));
  fc.weight() = Tensor<double>::from({2, 2}, {1, 2, 3, 4});
  fc.bias() = Tensor<double>::from({2}, {0.5, -1});
  auto x = Tensor<double>::from({1, 2}, {1, -1});
  const auto& y = fc.forward(x);
  CHECK(y[0] == -0.5);  // 1 - 2 + 0.5
  CHECK(y[1] == -2.0);  // 3 - 4 - 1
  fc.zero_grad();
  auto dy = Tensor<double>::from({1, 2}, {1, 2});
  const auto& dx = fc.backward(dy);
  CHECK(dx[0] == 7.0);   // 1*1 + 2*3
  CHECK(dx[1] == 10.0);  // 1*2 + 2*4
  fc.backward(dy);  // parameter gradients accumulate
  auto params = fc.parameters();
  CHECK(std::vector<double>(params[0].grad->begin(), params[0].grad->end()) ==
        std::vector<double>{2, -2, 4, -4});
  CHECK(std::vector<double>(params[1].grad->begin(), params[1].grad->end()) ==
        std::vector<double>{2, 4});

  // Without input gradients, dx is skipped but parameters still learn.
  fc.set_input_grad(false);
  fc.zero_grad();
  fc.forward(x);
  CHECK(fc.backward(dy).empty());
  CHECK((*params[1].grad)[1] == 2.0);
}

TEST_CASE("Linear gradients", "[linear][gradcheck]") {
  Linear<double> with_bias(LinearOptions(5, 3));
  testing::check_module_gradients(with_bias, {4, 5});
  Linear<double> without_bias(LinearOptions(5, 3).bias(false));
  testing::check_module_gradients(without_bias, {4, 5});
  Linear<double> inferred(6);
  testing::check_module_gradients(inferred, {3, 11});
  Linear<double> leading(LinearOptions(0, 4));
  testing::check_module_gradients(leading, {2, 3, 7});
  // Several tiles in every direction (tiles are 64 x 128).
  Linear<double> tiled(LinearOptions(150, 140));
  testing::check_module_gradients(tiled, {70, 150}, {.max_checked = 300});
}

TEST_CASE("Linear parity with PyTorch", "[linear][parity]") {
  testing::check_parity_cases("linear", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<Linear<T>>(
        LinearOptions(f.config_int("in_features"), f.config_int("out_features"))
            .bias(f.config_bool("bias")));
  });
}

TEST_CASE("Linear matches a plain loop across tile edges", "[linear]") {
  const index_t rows = 130, in = 300, out = 260;
  Linear<double> fc(LinearOptions(in, out));
  const Tensor<double> x = random_tensor<double>({rows, in}, 11);
  const Tensor<double> dy = random_tensor<double>({rows, out}, 12);
  fc.zero_grad();
  const Tensor<double> y = fc.forward(x);
  const Tensor<double> dx = fc.backward(dy);
  auto params = fc.parameters();
  const Tensor<double>& w = fc.weight();
  double worst = 0;
  for (index_t r = 0; r < rows; ++r) {
    for (index_t o = 0; o < out; ++o) {
      double s = fc.bias()[o];
      for (index_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      worst = std::max(worst, std::abs(s - y[r * out + o]));
    }
    for (index_t i = 0; i < in; ++i) {
      double s = 0;
      for (index_t o = 0; o < out; ++o) s += dy[r * out + o] * w[o * in + i];
      worst = std::max(worst, std::abs(s - dx[r * in + i]));
    }
  }
  for (index_t o = 0; o < out; ++o) {
    double sb = 0;
    for (index_t r = 0; r < rows; ++r) sb += dy[r * out + o];
    worst = std::max(worst, std::abs(sb - (*params[1].grad)[o]));
    for (index_t i = 0; i < in; ++i) {
      double s = 0;
      for (index_t r = 0; r < rows; ++r) s += dy[r * out + o] * x[r * in + i];
      worst = std::max(worst, std::abs(s - (*params[0].grad)[o * in + i]));
    }
  }
  CHECK(worst < 1e-11);
}

TEST_CASE("Linear results do not depend on the thread count", "[linear][threads]") {
  const int saved = num_threads();
  const Tensor<float> x = random_tensor<float>({150, 300}, 1);
  const Tensor<float> dy = random_tensor<float>({150, 270}, 2);
  auto run = [&](int threads) {
    set_num_threads(threads);
    manual_seed(9);
    Linear<float> fc(LinearOptions(300, 270));
    fc.zero_grad();
    std::vector<Tensor<float>> out{fc.forward(x), fc.backward(dy)};
    for (auto& p : fc.parameters()) out.push_back(*p.grad);
    return out;
  };
  const auto one = run(1);
  const auto three = run(3);
  set_num_threads(saved);
  REQUIRE(one.size() == 4);
  for (std::size_t i = 0; i < one.size(); ++i) {
    INFO("tensor " << i);
    CHECK(bitwise_equal(one[i], three[i]));
  }
}
