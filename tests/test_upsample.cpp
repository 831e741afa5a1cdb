#include <catch2/catch.hpp>

#include <cstring>

#include "cae/kernels/upsample.hpp"
#include "cae/layers/upsample.hpp"
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
UpsampleOptions bilinear(bool align_corners) {
  return UpsampleOptions().mode(UpsampleMode::Bilinear).align_corners(align_corners);
}
}  // namespace

TEST_CASE("Upsample output shapes and describe()", "[upsample]") {
  Upsample<float> x2(UpsampleOptions().scale_factor(2));
  CHECK(x2.describe() == "Upsample(scale_factor=2.0, mode=nearest)");
  CHECK(x2.build({3, 4, 5}) == Shape{3, 8, 10});
  Upsample<float> fit(bilinear(false).size({160, 160}));
  CHECK(fit.describe() == "Upsample(size=(160, 160), mode=bilinear)");
  CHECK(fit.build({8, 158, 158}) == Shape{8, 160, 160});
  Upsample<float> square(UpsampleOptions().size(7));
  CHECK(square.describe() == "Upsample(size=7, mode=nearest)");
  CHECK(square.build({1, 3, 4}) == Shape{1, 7, 7});
  Upsample<float> per_axis(UpsampleOptions().scale_factor({2.0, 1.5}));
  CHECK(per_axis.describe() == "Upsample(scale_factor=(2.0, 1.5), mode=nearest)");
  CHECK(per_axis.build({1, 3, 5}) == Shape{1, 6, 7});  // floor(5 * 1.5) = 7
  Upsample<float> down(UpsampleOptions().scale_factor(0.1));
  CHECK(down.describe() == "Upsample(scale_factor=0.1, mode=nearest)");
  CHECK(down.build({1, 20, 35}) == Shape{1, 2, 3});
}

TEST_CASE("Upsample errors name the layer", "[upsample][errors]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(Upsample<float>(UpsampleOptions()),
                    Contains("either size or scale_factor should be defined"));
  CHECK_THROWS_WITH(Upsample<float>(UpsampleOptions().size(4).scale_factor(2)),
                    Contains("only one of size or scale_factor"));
  CHECK_THROWS_WITH(Upsample<float>(UpsampleOptions().scale_factor(2).align_corners(true)),
                    Contains("Upsample(scale_factor=2.0, mode=nearest)") &&
                        Contains("align_corners"));
  CHECK_THROWS_WITH(Upsample<float>(UpsampleOptions().scale_factor(-1)),
                    Contains("scale_factor must be positive"));
  CHECK_THROWS_WITH(Upsample<float>(UpsampleOptions().size({0, 3})), Contains("size must be positive"));
  Upsample<float> down(UpsampleOptions().scale_factor(0.1));
  CHECK_THROWS_WITH(down.build({1, 5, 30}), Contains("Upsample(scale_factor=0.1") &&
                                                Contains("[-1, 1, 5, 30]") &&
                                                Contains("empty output 0x3"));
  CHECK_THROWS_WITH(down.build({30, 30}), Contains("expected input [N, C, H, W]"));
  Upsample<float> up(UpsampleOptions().scale_factor(2));
  Tensor<float> x({1, 1, 2, 2}, 1.f);
  up.forward(x);
  Tensor<float> wrong({1, 1, 2, 2});
  CHECK_THROWS_WITH(up.backward(wrong), Contains("gradient shape [1, 1, 2, 2]") &&
                                            Contains("[1, 1, 4, 4]"));
}

TEST_CASE("nearest follows PyTorch's floor(dst * in / out) rule", "[upsample]") {
  using kernels::nearest_source_index;
  // 158 -> 160 (values from F.interpolate): outputs 1 and 81 repeat their predecessor.
  std::vector<index_t> repeats;
  for (index_t o = 1; o < 160; ++o)
    if (nearest_source_index(o, 158, 160, 0) == nearest_source_index(o - 1, 158, 160, 0))
      repeats.push_back(o);
  CHECK(repeats == std::vector<index_t>{1, 81});
  CHECK(nearest_source_index(159, 158, 160, 0) == 157);
  // With a scale factor the ratio is 1 / factor, not in / out (values from F.interpolate):
  // 4 -> 6 at x1.7 reads [0, 0, 1, 1, 2, 2]; with size=6 it reads [0, 0, 1, 2, 2, 3].
  std::vector<index_t> by_factor, by_size;
  for (index_t o = 0; o < 6; ++o) {
    by_factor.push_back(nearest_source_index(o, 4, 6, 1.7));
    by_size.push_back(nearest_source_index(o, 4, 6, 0));
  }
  CHECK(by_factor == std::vector<index_t>{0, 0, 1, 1, 2, 2});
  CHECK(by_size == std::vector<index_t>{0, 0, 1, 2, 2, 3});
  CHECK(nearest_source_index(5, 5, 6, 1.3) == 3);
  CHECK(nearest_source_index(5, 5, 6, 0) == 4);

  auto x = Tensor<float>::from({1, 1, 2, 2}, {1, 2, 3, 4});
  Upsample<float> up(UpsampleOptions().scale_factor(2));
  const auto& y = up.forward(x);
  CHECK(std::vector<float>(y.begin(), y.end()) ==
        std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  const auto& dx = up.backward(Tensor<float>({1, 1, 4, 4}, 1.f));
  CHECK(std::vector<float>(dx.begin(), dx.end()) == std::vector<float>{4, 4, 4, 4});
}

TEST_CASE("bilinear values match F.interpolate on a 2x2 image", "[upsample]") {
  auto x = Tensor<double>::from({1, 1, 2, 2}, {0, 1, 2, 3});
  Upsample<double> half(bilinear(false).size(4));
  const auto& y = half.forward(x);
  const std::vector<double> expected{0,   0.25, 0.75, 1,   0.5, 0.75, 1.25, 1.5,
                                     1.5, 1.75, 2.25, 2.5, 2,   2.25, 2.75, 3};
  for (index_t i = 0; i < 16; ++i) CHECK(y[i] == Approx(expected[static_cast<std::size_t>(i)]));
  Upsample<double> corners(bilinear(true).size(4));
  const auto& yc = corners.forward(x);
  CHECK(yc[1] == Approx(1.0 / 3));
  CHECK(yc[5] == Approx(1.0));
  CHECK(yc[15] == 3.0);
  // The gradient of a sum is how often each input is used, weights included: 4 each.
  const auto& dx = corners.backward(Tensor<double>({1, 1, 4, 4}, 1.0));
  for (double v : dx) CHECK(v == Approx(4.0));
}

TEST_CASE("bilinear_resize and interpolate for single images", "[upsample]") {
  // A constant image stays constant (32 -> 320, 28 -> 224, the data pipeline's resizes).
  Tensor<float> cifar({3, 32, 32}, 0.25f);
  Tensor<float> big({3, 320, 320});
  kernels::bilinear_resize(big.data(), cifar.data(), 3, 32, 32, 320, 320);
  index_t off = 0;
  for (float v : big) off += std::abs(v - 0.25f) > 1e-7f;
  CHECK(off == 0);
  const Tensor<float> digit = random_tensor<float>({1, 28, 28}, 4);
  const Tensor<float> d = interpolate(digit, UpsampleOptions().size(224).mode(UpsampleMode::Bilinear));
  CHECK(d.shape() == Shape{1, 224, 224});
  CHECK_FALSE(d.is_view());
  // Same as the layer on a batch of one.
  Upsample<float> layer(bilinear(false).size(224));
  CHECK(bitwise_equal(d.reshape({1, 1, 224, 224}).cast<float>(),
                      Tensor<float>(layer.forward(digit.reshape({1, 1, 28, 28})))));
  Tensor<float> direct({1, 224, 224});
  kernels::bilinear_resize(direct.data(), digit.data(), 1, 28, 28, 224, 224);
  CHECK(bitwise_equal(direct, d));
  CHECK_THROWS_AS(interpolate(Tensor<float>({4, 4}), UpsampleOptions().size(8)), ShapeError);
}

TEST_CASE("Upsample gradients", "[upsample][gradcheck]") {
  std::vector<std::pair<UpsampleOptions, Shape>> cases = {
      {UpsampleOptions().scale_factor(2), {2, 2, 3, 4}},
      {UpsampleOptions().scale_factor({1.5, 2.5}), {1, 2, 5, 3}},
      {UpsampleOptions().size({10, 13}), {1, 2, 7, 9}},
      {UpsampleOptions().size({4, 3}), {1, 2, 9, 8}},
      {bilinear(false).scale_factor(2), {2, 2, 3, 4}},
      {bilinear(true).scale_factor(2), {2, 2, 3, 4}},
      {bilinear(false).scale_factor(1.5), {1, 2, 5, 7}},
      {bilinear(false).size({4, 3}), {1, 2, 9, 8}},
      {bilinear(true).size({1, 5}), {1, 1, 4, 3}},
  };
  for (auto& [options, shape] : cases) {
    Upsample<double> up(options);
    testing::check_module_gradients(up, shape);
  }
  // The 000 paper's 158 -> 160, on a subset of inputs.
  for (bool align : {false, true}) {
    Upsample<double> fit(bilinear(align).size(160));
    testing::check_module_gradients(fit, {1, 1, 158, 158}, {.max_checked = 150});
  }
  Upsample<double> nearest_fit(UpsampleOptions().size(160));
  testing::check_module_gradients(nearest_fit, {1, 1, 158, 158}, {.max_checked = 150});
}

TEST_CASE("Upsample parity with PyTorch", "[upsample][parity]") {
  testing::check_parity_cases("upsample", []<typename T>(const testing::Fixture& f) {
    UpsampleOptions o;
    o.mode(f.config_string("mode") == "bilinear" ? UpsampleMode::Bilinear : UpsampleMode::Nearest);
    if (f.has("size")) {
      auto [h, w] = f.config_pair("size");
      o.size({h, w});
    } else if (f.config["scale_factor"].is_number()) {
      o.scale_factor(f.config_double("scale_factor"));
    } else {
      const auto& a = f.config["scale_factor"].as_array();
      o.scale_factor({a.at(0).as_number(), a.at(1).as_number()});
    }
    if (f.has("align_corners")) o.align_corners(f.config_bool("align_corners"));
    return std::make_unique<Upsample<T>>(o);
  });
}

TEST_CASE("Upsample results do not depend on the thread count", "[upsample][threads]") {
  const int saved = num_threads();
  const Tensor<float> x = random_tensor<float>({2, 4, 158, 158}, 1);
  const Tensor<float> dy = random_tensor<float>({2, 4, 160, 160}, 2);
  for (auto options : {bilinear(false).size(160), UpsampleOptions().size(160)}) {
    Upsample<float> up(options);
    set_num_threads(1);
    const Tensor<float> y1 = up.forward(x);
    const Tensor<float> dx1 = up.backward(dy);
    set_num_threads(3);
    const Tensor<float> y3 = up.forward(x);
    const Tensor<float> dx3 = up.backward(dy);
    set_num_threads(saved);
    CHECK(bitwise_equal(y1, y3));
    CHECK(bitwise_equal(dx1, dx3));
  }
}
