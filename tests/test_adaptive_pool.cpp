#include <catch2/catch.hpp>

#include <cmath>

#include "cae/layers/adaptive_pool.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {
template <typename Options>
Options options_from(const testing::Fixture& f) {
  const json::Value& v = f.config["output_size"];
  if (v.is_number()) return Options(static_cast<index_t>(v.as_number()));
  adaptive_pool_detail::OptionalPair size;
  for (int i = 0; i < 2; ++i)
    if (v.as_array().at(i).is_number()) size[i] = static_cast<index_t>(v.as_array().at(i).as_number());
  return Options(size);
}
}  // namespace

TEST_CASE("adaptive pools: PyTorch's windows, shapes and describe()", "[adaptive_pool]") {
  CHECK(kernels::adaptive_start(0, 7, 3) == 0);
  CHECK(kernels::adaptive_end(0, 7, 3) == 3);  // ceil(7 / 3)
  CHECK(kernels::adaptive_start(1, 7, 3) == 2);  // floor(7 / 3): windows overlap
  CHECK(kernels::adaptive_end(1, 7, 3) == 5);
  CHECK(kernels::adaptive_start(2, 7, 3) == 4);
  CHECK(kernels::adaptive_end(2, 7, 3) == 7);

  AdaptiveAvgPool2d<float> global(1);
  CHECK(global.describe() == "AdaptiveAvgPool2d(output_size=1)");
  CHECK(global.build(Shape{8, 7, 5}) == Shape{8, 1, 1});
  AdaptiveMaxPool2d<float> grid(AdaptiveMaxPool2dOptions({5, 7}));
  CHECK(grid.describe() == "AdaptiveMaxPool2d(output_size=(5, 7))");
  CHECK(grid.build(Shape{3, 2, 2}) == Shape{3, 5, 7});  // larger than the input
  AdaptiveAvgPool2d<float> columns(AdaptiveAvgPool2dOptions({std::nullopt, 3}));
  CHECK(columns.describe() == "AdaptiveAvgPool2d(output_size=(None, 3))");
  CHECK(columns.build(Shape{2, 10, 7}) == Shape{2, 10, 3});

  // Global pooling is the mean / the max of each plane.
  Tensor<double> x({1, 2, 2, 3});
  for (index_t i = 0; i < 12; ++i) x[i] = double((i * 7) % 12);
  AdaptiveAvgPool2d<double> mean(1);
  AdaptiveMaxPool2d<double> max(1);
  const Tensor<double>& m = mean.forward(x);
  CHECK(m[0] == Approx((0 + 7 + 2 + 9 + 4 + 11) / 6.0));
  const Tensor<double>& top = max.forward(x);
  CHECK(top[0] == 11);
  CHECK(max.indices() == std::vector<kernels::pool_index_t>{5, 4});  // plane 2 holds 6 1 8 3 10 5
}

TEST_CASE("adaptive max pool: ties go to the first max, NaN wins as in PyTorch", "[adaptive_pool]") {
  AdaptiveMaxPool2d<float> pool(1);
  auto ties = Tensor<float>::from({1, 1, 2, 2}, {1.f, 3.f, 3.f, 0.f});
  CHECK(pool.forward(ties)[0] == 3.f);
  CHECK(pool.indices()[0] == 1);
  auto nan = Tensor<float>::from({1, 1, 2, 2}, {1.f, std::nanf(""), 3.f, std::nanf("")});
  CHECK(std::isnan(pool.forward(nan)[0]));
  CHECK(pool.indices()[0] == 3);  // the last NaN, as ATen's (val > max || isnan(val))
  auto dy = Tensor<float>::from({1, 1, 1, 1}, {2.f});
  const Tensor<float>& dx = pool.backward(dy);
  CHECK(std::vector<float>(dx.begin(), dx.end()) == std::vector<float>{0, 0, 0, 2});
}

TEST_CASE("adaptive pool errors name the layer and the offending values", "[adaptive_pool][errors]") {
  CHECK_THROWS_WITH(AdaptiveAvgPool2d<float>(0),
                    Catch::Contains("AdaptiveAvgPool2d(output_size=0)") && Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(AdaptiveMaxPool2d<float>(AdaptiveMaxPool2dOptions({3, -1})),
                    Catch::Contains("AdaptiveMaxPool2d") && Catch::Contains("got -1"));
  AdaptiveAvgPool2d<float> pool(AdaptiveAvgPool2dOptions({2, 2}));
  CHECK_THROWS_AS(pool.build(Shape{3, 4}), ShapeError);
  CHECK_THROWS_WITH(pool.build(Shape{3, 4}), Catch::Contains("AdaptiveAvgPool2d(output_size=(2, 2))") &&
                                                 Catch::Contains("[N, C, H, W]") && Catch::Contains("[-1, 3, 4]"));
  CHECK_THROWS_WITH(pool.build(Shape{3, 0, 4}), Catch::Contains("H, W > 0"));
  Tensor<float> flat({2, 12});
  CHECK_THROWS_WITH(pool.forward(flat), Catch::Contains("rank 4") && Catch::Contains("[2, 12]"));
  AdaptiveMaxPool2d<float> fresh(2);
  Tensor<float> dy({1, 1, 2, 2});
  CHECK_THROWS_WITH(fresh.backward(dy), Catch::Contains("backward() before forward()"));
  Tensor<float> x({1, 1, 4, 4}), bad({1, 1, 3, 2});
  fresh.forward(x);
  CHECK_THROWS_WITH(fresh.backward(bad), Catch::Contains("gradient shape [1, 1, 3, 2]"));
}

TEST_CASE("adaptive pool gradients", "[adaptive_pool][gradcheck]") {
  for (const auto& [size, input] : std::vector<std::pair<AdaptiveAvgPool2dOptions, Shape>>{
           {AdaptiveAvgPool2dOptions({3, 4}), Shape{2, 2, 7, 9}},
           {AdaptiveAvgPool2dOptions({7, 8}), Shape{1, 2, 5, 5}},
           {AdaptiveAvgPool2dOptions(1), Shape{2, 3, 6, 5}},
           {AdaptiveAvgPool2dOptions({std::nullopt, 2}), Shape{1, 2, 4, 7}}}) {
    AdaptiveAvgPool2d<double> avg(size);
    AdaptiveMaxPool2d<double> max(AdaptiveMaxPool2dOptions(size.output_size()));
    INFO(avg.describe() << " on " << input);
    testing::check_module_gradients(avg, input);
    testing::check_module_gradients(max, input);
  }
}

TEST_CASE("adaptive pool results do not depend on the thread count", "[adaptive_pool]") {
  Rng rng(6);
  // Above kElementwiseGrain input elements, so that the kernels do run in parallel.
  Tensor<float> x({4, 16, 67, 71}), dy({4, 16, 5, 9});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  const int saved = num_threads();
  auto run = [&](int threads) {
    set_num_threads(threads);
    AdaptiveAvgPool2d<float> avg(AdaptiveAvgPool2dOptions({5, 9}));
    AdaptiveMaxPool2d<float> max(AdaptiveMaxPool2dOptions({5, 9}));
    std::vector<Tensor<float>> out{avg.forward(x), avg.backward(dy), max.forward(x), max.backward(dy)};
    return out;
  };
  const auto one = run(1), three = run(3);
  set_num_threads(saved);
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(max_abs_diff(one[i], three[i]) == 0.f);
}

TEST_CASE("adaptive pool parity with PyTorch", "[adaptive_pool][parity]") {
  testing::check_parity_cases("adaptive_avg_pool2d", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<AdaptiveAvgPool2d<T>>(options_from<AdaptiveAvgPool2dOptions>(f));
  });
  testing::check_parity_cases("adaptive_max_pool2d", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<AdaptiveMaxPool2d<T>>(options_from<AdaptiveMaxPool2dOptions>(f));
  });
}

TEST_CASE("adaptive max pool argmax equals PyTorch's indices exactly, ties included",
          "[adaptive_pool][parity]") {
  const auto files = testing::fixture_files("adaptive_max_pool2d");
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    INFO(path);
    testing::Fixture f(path);
    AdaptiveMaxPool2d<double> pool(options_from<AdaptiveMaxPool2dOptions>(f));
    pool.forward(f.tensor<double>("input"));
    const Tensor<double> expected = f.tensor<double>("indices");
    REQUIRE(static_cast<index_t>(pool.indices().size()) == expected.numel());
    index_t differ = 0;
    for (index_t i = 0; i < expected.numel(); ++i)
      differ += pool.indices()[static_cast<std::size_t>(i)] != static_cast<index_t>(expected[i]);
    CHECK(differ == 0);
  }
}
