#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "cae/metrics.hpp"
#include "cae/parallel.hpp"
#include "parity.hpp"

using namespace cae;
using namespace cae::metrics;

TEST_CASE("argmax and accuracy", "[metrics]") {
  // Row 2 ties between classes 0 and 2: the first wins, as torch.argmax.
  auto logits = Tensor<float>::from({4, 3}, {0.1f, 2.f, -1.f,   //
                                             5.f, 1.f, 0.f,     //
                                             3.f, 1.f, 3.f,     //
                                             -2.f, -1.f, -3.f});
  CHECK(argmax(logits) == std::vector<int>{1, 0, 0, 1});
  CHECK(accuracy(logits, std::vector<int>{1, 0, 2, 1}) == 0.75);
  CHECK(accuracy(logits, std::vector<int>{0, 1, 2, 0}) == 0.0);
  auto targets = Tensor<float>::from({4}, {1, 0, 0, 1});
  CHECK(accuracy(logits, targets) == 1.0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(argmax(Tensor<float>::from({1, 3}, {1.f, nan, 5.f})) == std::vector<int>{1});
  CHECK_THROWS_WITH(accuracy(logits, std::vector<int>{1, 0}),
                    Catch::Contains("4 rows of logits") && Catch::Contains("2 labels"));
  CHECK_THROWS_WITH(accuracy(logits, Tensor<float>::from({4}, {1, 0.5f, 0, 1})),
                    Catch::Contains("not a class index"));
}

TEST_CASE("confusion matrix counts and prints", "[metrics]") {
  ConfusionMatrix cm(3, {"car", "cat", "bird"});
  // car: 2 right, 1 as cat; cat: 1 right; bird: 1 as car.
  cm.add(0, 0);
  cm.add(0, 0);
  cm.add(0, 1);
  cm.add(1, 1);
  cm.add(2, 0);
  CHECK(cm.count(0, 1) == 1);
  CHECK(cm.count(2, 0) == 1);
  CHECK(cm.total() == 5);
  CHECK(cm.correct() == 3);
  CHECK(cm.accuracy() == 0.6);
  CHECK(cm.recall(0) == Approx(2.0 / 3));
  CHECK(cm.precision(0) == Approx(2.0 / 3));
  CHECK(cm.precision(1) == 0.5);
  CHECK(cm.recall(2) == 0.0);
  CHECK(std::isnan(cm.precision(2)));
  const std::string expected =
      "true \\ predicted |    car    cat   bird | recall\n"
      "car              |      2      1      0 |  66.7%\n"
      "cat              |      0      1      0 | 100.0%\n"
      "bird             |      1      0      0 |   0.0%\n"
      "precision        |  66.7%  50.0%      - |\n"
      "accuracy 60.0% (3 of 5)\n";
  CHECK(cm.str() == expected);
  // From logits, with default names.
  ConfusionMatrix c2(2);
  c2.add(Tensor<float>::from({3, 2}, {1, 0, 0, 1, 2, 3}), {0, 0, 1});
  CHECK(c2.count(0, 0) == 1);
  CHECK(c2.count(0, 1) == 1);
  CHECK(c2.count(1, 1) == 1);
  CHECK(c2.class_names() == std::vector<std::string>{"0", "1"});
  CHECK_THROWS_WITH(cm.add(3, 0), Catch::Contains("outside [0, 3)"));
  CHECK_THROWS_WITH(ConfusionMatrix(2, {"a"}), Catch::Contains("1 class names for 2 classes"));
}

TEST_CASE("MSE and PSNR", "[metrics]") {
  Tensor<float> a({2, 1, 3, 3}, 0.f), b({2, 1, 3, 3}, 0.1f);
  CHECK(mse(a, b) == Approx(0.01).epsilon(1e-6));
  CHECK(psnr(a, b) == Approx(20.0).epsilon(1e-5));            // 10 log10(1 / 0.01)
  CHECK(psnr(a, b, 255.0) == Approx(20.0 + 20.0 * std::log10(255.0)).epsilon(1e-5));
  CHECK(std::isinf(psnr(a, a)));
  auto x = Tensor<double>::from({4}, {0, 1, 0, 1}), y = Tensor<double>::from({4}, {0, 0, 0, 0});
  CHECK(mse(x, y) == 0.5);
  CHECK(psnr(x, y) == Approx(10.0 * std::log10(2.0)).epsilon(1e-12));
  CHECK_THROWS_WITH(mse(a, Tensor<float>({2, 1, 3, 4})), Catch::Contains("[2, 1, 3, 3]") &&
                                                             Catch::Contains("[2, 1, 3, 4]"));
}

TEST_CASE("SSIM: identical images, a hand-computed pair, window size", "[metrics][ssim]") {
  Tensor<double> img({3, 16, 16});
  Rng rng(1);
  img.fill_uniform(rng, 0.0, 1.0);
  CHECK(ssim(img, img) == Approx(1.0).epsilon(1e-12));
  // Constant images 0.2 and 0.4: no variance, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
  // = (0.16 + 1e-4) / (0.2 + 1e-4).
  Tensor<float> a({1, 11, 11}, 0.2f), b({1, 11, 11}, 0.4f);
  CHECK(ssim(a, b) == Approx((0.16 + 1e-4) / (0.2 + 1e-4)).epsilon(1e-6));
  // An image and its negative share the variance but correlate with -1:
  // the structure term 2 cov + C2 / (2 var + C2) is about -1.
  Tensor<double> neg = img;
  for (double& v : neg) v = 1.0 - v;
  CHECK(ssim(img, neg) < -0.5);
  CHECK(SsimOptions().window_size() == 11);
  CHECK(SsimOptions().sigma(1.0).window_size() == 9);
  CHECK_THROWS_WITH(ssim(Tensor<float>({1, 10, 40}), Tensor<float>({1, 10, 40})),
                    Catch::Contains("smaller than the 11x11 window"));
  CHECK_THROWS_WITH(SsimOptions().k1(0), Catch::Contains("k1 must be positive"));
}

TEST_CASE("SSIM matches a numpy/scipy computation", "[metrics][ssim]") {
  // Values from tests/fixturegen/gen_metrics.py (skimage's algorithm written out).
  const auto files = testing::fixture_files("ssim");
  REQUIRE(files.size() == 3);
  for (const auto& path : files) {
    INFO(path);
    testing::Fixture f(path);
    const SsimOptions opt = SsimOptions().data_range(f.config_double("data_range"));
    const double expected = f.tensor<double>("ssim")[0];
    CHECK(ssim(f.tensor<double>("a"), f.tensor<double>("b"), opt) ==
          Approx(expected).epsilon(1e-12));
    CHECK(ssim(f.tensor<float>("a"), f.tensor<float>("b"), opt) == Approx(expected).epsilon(1e-5));
  }
  // A batch's per-image values are those of its images, whatever the thread count.
  testing::Fixture f(files[0]);
  Tensor<double> a = f.tensor<double>("a"), b = f.tensor<double>("b");
  Tensor<double> batch_a({2, a.dim(0), a.dim(1), a.dim(2)}), batch_b = batch_a;
  batch_a.sample(0).copy_from(a);
  batch_a.sample(1).copy_from(b);
  batch_b.sample(0).copy_from(b);
  batch_b.sample(1).copy_from(b);
  set_num_threads(1);
  const auto one = ssim_per_image(batch_a, batch_b);
  set_num_threads(2);
  const auto two = ssim_per_image(batch_a, batch_b);
  CHECK(one == two);
  CHECK(one[0] == Approx(ssim(a, b)).epsilon(1e-14));
  CHECK(one[1] == Approx(1.0).epsilon(1e-12));
  CHECK(ssim(batch_a, batch_b) == Approx((one[0] + one[1]) / 2).epsilon(1e-14));
}

TEST_CASE("per-channel cosine similarity (Equation 3)", "[metrics][similarity]") {
  // Image 0: R identical, G orthogonal (checkerboard and its complement), B scaled.
  // Image 1: R at 45 degrees ([1, 0, 0, 0] vs [1, 1, 0, 0]), G identical, B zero in both.
  auto input = Tensor<float>::from({2, 3, 2, 2}, {1, 2, 3, 4, 1, 0, 0, 1, 1, 1, 2, 2,  //
                                                  1, 0, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0});
  auto restored = Tensor<float>::from({2, 3, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0, 3, 3, 6, 6,  //
                                                     1, 1, 0, 0, 5, 5, 5, 5, 0, 0, 0, 0});
  const ChannelSimilarity s = channel_cosine_similarity(input, restored);
  REQUIRE(s.per_channel.size() == 3);
  CHECK(s.images == 2);
  CHECK(s.per_channel[0] == Approx((1.0 + 1.0 / std::sqrt(2.0)) / 2).epsilon(1e-7));
  CHECK(s.per_channel[1] == Approx(0.5).epsilon(1e-7));  // (0 + 1) / 2
  CHECK(s.per_channel[2] == Approx(1.0).epsilon(1e-7));  // (1 + 1) / 2, zero channels count 1
  CHECK(s.overall == Approx((s.per_channel[0] + s.per_channel[1] + s.per_channel[2]) / 3));
  // One image, identical: 1 everywhere; a zero channel against a non-zero one: 0.
  const ChannelSimilarity same = channel_cosine_similarity(input.sample(0), input.sample(0));
  CHECK(same.per_channel == std::vector<double>{1.0, 1.0, 1.0});
  Tensor<float> zero({1, 2, 2}, 0.f), one({1, 2, 2}, 1.f);
  CHECK(channel_cosine_similarity(zero, one).overall == 0.0);
  // The meter over two batches equals one pass over the whole set.
  ChannelSimilarityMeter meter;
  meter.add(input.slice(0, 1), restored.slice(0, 1));
  meter.add(input.slice(1, 2), restored.slice(1, 2));
  const ChannelSimilarity m = meter.result();
  CHECK(m.per_channel == s.per_channel);
  CHECK(m.images == 2);
  // The paper's Table 6: channel averages 0.817, 0.799, 0.810 give RGB 0.809.
  ChannelSimilarity table;
  table.per_channel = {0.817, 0.799, 0.810};
  table.overall = (0.817 + 0.799 + 0.810) / 3;
  CHECK(table.str() == "red 0.8170  green 0.7990  blue 0.8100  RGB 0.8087");
  CHECK_THROWS_WITH(meter.add(zero, zero), Catch::Contains("1 channels after batches of 3"));
  CHECK_THROWS_WITH(ChannelSimilarityMeter().result(), Catch::Contains("no images"));
}
