#include <catch2/catch.hpp>

#include <cstring>

#include "cae/layers/pixel_shuffle.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

TEST_CASE("PixelShuffle and PixelUnshuffle: shapes, describe(), PyTorch's element order", "[pixel_shuffle]") {
  PixelShuffle<float> up(2);
  PixelUnshuffle<float> down(2);
  CHECK(up.describe() == "PixelShuffle(upscale_factor=2)");
  CHECK(down.describe() == "PixelUnshuffle(downscale_factor=2)");
  CHECK(up.build(Shape{12, 3, 5}) == Shape{3, 6, 10});
  CHECK(down.build(Shape{3, 6, 10}) == Shape{12, 3, 5});
  CHECK(up.build(Shape{2, 8, 3, 4}) == Shape{2, 2, 6, 8});  // [N, *, C, H, W]

  // One channel's 2x2 block from four channels: out[c, 2h + i, 2w + j] = in[4c + 2i + j, h, w].
  Tensor<float> x({1, 4, 1, 2});
  for (index_t i = 0; i < 8; ++i) x[i] = float(i);  // channel k holds 2k, 2k + 1
  const Tensor<float>& y = up.forward(x);
  REQUIRE(y.shape() == Shape{1, 1, 2, 4});
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7});
  const Tensor<float> back = down.forward(y);
  CHECK(max_abs_diff(back, x) == 0.f);
}

TEST_CASE("PixelShuffle errors name the layer and PyTorch's rule", "[pixel_shuffle][errors]") {
  CHECK_THROWS_WITH(PixelShuffle<float>(0), Catch::Contains("PixelShuffle(upscale_factor=0)") &&
                                                Catch::Contains("must be positive"));
  CHECK_THROWS_WITH(PixelUnshuffle<float>(-2), Catch::Contains("downscale_factor must be positive"));
  PixelShuffle<float> up(3);
  CHECK_THROWS_AS(up.build(Shape{8, 2, 2}), ShapeError);
  CHECK_THROWS_WITH(up.build(Shape{8, 2, 2}), Catch::Contains("PixelShuffle(upscale_factor=3)") &&
                                                  Catch::Contains("8") && Catch::Contains("9"));
  CHECK_THROWS_WITH(up.build(Shape{9, 2}), Catch::Contains("expected input [N, C, H, W]") &&
                                               Catch::Contains("[-1, 9, 2]"));
  PixelUnshuffle<float> down(2);
  CHECK_THROWS_WITH(down.build(Shape{1, 4, 5}),
                    Catch::Contains("PixelUnshuffle(downscale_factor=2)") && Catch::Contains("4x5") &&
                        Catch::Contains("not divisible"));
  Tensor<float> x({2, 1, 4, 5});
  CHECK_THROWS_WITH(down.forward(x), Catch::Contains("[2, 1, 4, 5]"));
  Tensor<float> ok({2, 1, 4, 4}), bad({2, 4, 2, 3});
  down.forward(ok);
  CHECK_THROWS_WITH(down.backward(bad), Catch::Contains("gradient shape [2, 4, 2, 3]"));
  PixelShuffle<float> fresh(2);
  Tensor<float> dy({1, 1, 2, 2});
  CHECK_THROWS_WITH(fresh.backward(dy), Catch::Contains("backward() before forward()"));
}

TEST_CASE("PixelShuffle gradients", "[pixel_shuffle][gradcheck]") {
  PixelShuffle<double> up2(2), up3(3);
  PixelUnshuffle<double> down2(2), down3(3);
  testing::check_module_gradients(up2, {2, 8, 3, 2});
  testing::check_module_gradients(up3, {1, 9, 2, 3});
  testing::check_module_gradients(up2, {2, 2, 4, 3, 2});
  testing::check_module_gradients(down2, {2, 2, 6, 4});
  testing::check_module_gradients(down3, {1, 2, 3, 6});
}

TEST_CASE("PixelShuffle results do not depend on the thread count", "[pixel_shuffle]") {
  Rng rng(5);
  // Above kElementwiseGrain, so that the kernels do run in parallel.
  Tensor<float> x({4, 16, 72, 72}), dy({4, 4, 144, 144});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  const int saved = num_threads();
  auto run = [&](int threads) {
    set_num_threads(threads);
    PixelShuffle<float> up(2);
    PixelUnshuffle<float> down(2);
    const Tensor<float> y = up.forward(x), dx = up.backward(dy);
    const Tensor<float> z = down.forward(y), dz = down.backward(x);  // y stays alive until here
    return std::vector<Tensor<float>>{y, dx, z, dz};
  };
  const auto one = run(1), three = run(3);
  set_num_threads(saved);
  for (std::size_t i = 0; i < one.size(); ++i) CHECK(max_abs_diff(one[i], three[i]) == 0.f);
  CHECK(max_abs_diff(one[2], x) == 0.f);  // unshuffle undoes shuffle
}

TEST_CASE("PixelShuffle parity with PyTorch", "[pixel_shuffle][parity]") {
  testing::check_parity_cases("pixel_shuffle", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<PixelShuffle<T>>(f.config_int("upscale_factor"));
  });
  testing::check_parity_cases("pixel_unshuffle", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<PixelUnshuffle<T>>(f.config_int("downscale_factor"));
  });
}
