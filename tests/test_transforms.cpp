#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <vector>

#include "cae/data/transforms.hpp"
#include "cae/parallel.hpp"
#include "parity.hpp"

using namespace cae;
using namespace cae::data;

namespace {

std::vector<float> values(const Tensor<float>& t) { return {t.begin(), t.end()}; }

// 0 1 2 3 / 4 5 6 7 / 8 9 10 11 / 12 13 14 15 as [1, 4, 4]
Tensor<float> ramp4() {
  Tensor<float> t({1, 4, 4});
  for (index_t i = 0; i < 16; ++i) t[i] = static_cast<float>(i);
  return t;
}

}  // namespace

TEST_CASE("resize_bilinear 2x2 -> 4x4 matches PyTorch's formula by hand", "[transforms][resize]") {
  // scale = 0.5, src = 0.5 * (d + 0.5) - 0.5 = -0.25 (-> 0), 0.25, 0.75, 1.25 (-> last pixel):
  // row and column coordinates 0, 0.25, 0.75, 1, so out = 2 * ry + cx.
  auto x = Tensor<float>::from({1, 2, 2}, {0, 1, 2, 3});
  const Tensor<float> y = resize_bilinear(x, 4, 4);
  REQUIRE(y.shape() == Shape{1, 4, 4});
  CHECK(values(y) == std::vector<float>{0, .25f, .75f, 1, .5f, .75f, 1.25f, 1.5f, 1.5f, 1.75f,
                                        2.25f, 2.5f, 2, 2.25f, 2.75f, 3});
}

// How far float bilinear interpolation of values of magnitude <= `scale` may
// stray from the exact result with the same (float) weights: each output is
// (a w0 + b w1) h0 + (c w0 + d w1) h1, and no input reaches it through more
// than 4 rounded operations (3 where the compiler fuses a multiply-add, which
// depends on the optimisation level), each off by at most half an ulp, i.e.
// 2^-24 relative. Weights rounded to float also make w0 + w1 and h0 + h1 differ
// from 1 by up to 2^-24 each, which a constant image shows directly.
namespace {
float interpolation_tolerance(float scale) { return 8 * std::ldexp(1.f, -24) * scale; }
}  // namespace

TEST_CASE("resize_bilinear keeps a constant image constant (32 -> 320, 28 -> 224)",
          "[transforms][resize]") {
  Tensor<float> cifar({2, 3, 32, 32});
  for (index_t i = 0; i < cifar.numel(); ++i) cifar[i] = 0.25f * static_cast<float>(i / 1024 + 1);
  const Tensor<float> big = resize_bilinear(cifar, 320, 320);
  REQUIRE(big.shape() == Shape{2, 3, 320, 320});
  // Within 6 roundings (4 operations and the two weight sums), not exactly:
  // whether the result is exact depends on the compiler fusing multiply-adds.
  for (index_t p = 0; p < 6; ++p) {
    const float c = 0.25f * static_cast<float>(p + 1);
    for (index_t j = 0; j < 320 * 320; j += 997)
      REQUIRE(std::abs(big[p * 320 * 320 + j] - c) <= interpolation_tolerance(c));
  }
  Tensor<float> digit({1, 28, 28}, 0.6f);
  const Tensor<float> d = resize_bilinear(digit, 224, 224);
  REQUIRE(d.shape() == Shape{1, 224, 224});
  CHECK(std::abs(*std::min_element(d.begin(), d.end()) - 0.6f) <= interpolation_tolerance(0.6f));
  CHECK(std::abs(*std::max_element(d.begin(), d.end()) - 0.6f) <= interpolation_tolerance(0.6f));
}

TEST_CASE("resize_bilinear parity with F.interpolate", "[transforms][resize][parity]") {
  const auto files = testing::fixture_files("resize_bilinear");
  REQUIRE(files.size() == 4);
  for (const auto& path : files) {
    INFO(path);
    testing::Fixture f(path);
    const auto size = f.config["size"].as_array();
    const index_t h = static_cast<index_t>(size.at(0).as_number());
    const index_t w = static_cast<index_t>(size.at(1).as_number());
    testing::check_close("double", resize_bilinear(f.tensor<double>("input"), h, w),
                         f.tensor<double>("output"));
    testing::check_close("float", resize_bilinear(f.tensor<float>("input"), h, w),
                         f.tensor<float>("output"));
    // Per-batch use through Resize, reusing its buffer, and a [C, H, W] image.
    Resize<double> resize(h, w);
    const Tensor<double> x = f.tensor<double>("input");
    const Tensor<double>& y = resize(x);
    testing::check_close("Resize", y, f.tensor<double>("output"));
    testing::check_close("single image", resize_bilinear(x.sample(0), h, w),
                         f.tensor<double>("output").sample(0));
  }
}

TEST_CASE("resize_bilinear<float> reproduces PyTorch's float results", "[transforms][resize][parity]") {
  const auto files = testing::fixture_files("resize_bilinear_f32");
  REQUIRE(files.size() == 3);
  for (const auto& path : files) {
    INFO(path);
    testing::Fixture f(path);
    const auto size = f.config["size"].as_array();
    const Tensor<float> y = resize_bilinear(f.tensor<float>("input"),
                                            static_cast<index_t>(size.at(0).as_number()),
                                            static_cast<index_t>(size.at(1).as_number()));
    const Tensor<float> expected = f.tensor<float>("output");
    REQUIRE(y.shape() == expected.shape());
    // Inputs in [0, 1): each side is within 4 roundings (4 * 2^-24) of the
    // exact value with the same float weights (ATen forms them as cae does),
    // so they differ by at most interpolation_tolerance(1). Bit equality is not asked for: it
    // holds where both sides fuse the same multiply-adds, which at -O1 GCC does
    // not (and PyTorch's single-channel, channels-last kernel never does).
    CHECK(max_abs_diff(y, expected) <= interpolation_tolerance(1.f));
  }
}

TEST_CASE("Resize replaces a batch in place and reports bad sizes", "[transforms][resize]") {
  Resize<float> resize(4);
  CHECK(resize.describe() == "Resize(size=(4, 4), mode='bilinear', align_corners=False)");
  auto x = Tensor<float>::from({1, 1, 2, 2}, {0, 1, 2, 3});
  resize.apply(x);
  REQUIRE(x.shape() == Shape{1, 1, 4, 4});
  CHECK(x[5] == .75f);
  auto again = Tensor<float>::from({1, 1, 2, 2}, {1, 1, 1, 1});
  resize.apply(again);
  CHECK(values(again) == std::vector<float>(16, 1.f));
  CHECK(x[5] == .75f);  // the earlier result was not overwritten
  CHECK_THROWS_WITH(resize_bilinear(Tensor<float>({4, 4}), 8, 8),
                    Catch::Contains("[C, H, W] or [N, C, H, W]") && Catch::Contains("[4, 4]"));
  CHECK_THROWS_AS(Resize<float>(0, 3), ShapeError);
}

TEST_CASE("Normalize and its inverse", "[transforms][normalize]") {
  auto x = Tensor<float>::from({1, 2, 1, 2}, {0.f, 1.f, 0.5f, 1.f});
  Normalize norm({0.5, 0.25}, {0.5, 0.25});
  CHECK(norm.describe() == "Normalize(mean=[0.5, 0.25], std=[0.5, 0.25])");
  const Tensor<float> y = norm(x);
  CHECK(values(y) == std::vector<float>{-1.f, 1.f, 1.f, 3.f});
  Tensor<float> z = y;
  norm.invert(z);
  CHECK(values(z) == values(x));
  Normalize one({0.5}, {2.0});  // a single value serves every channel
  Tensor<float> rgb({3, 1, 1}, 1.5f);
  one.apply(rgb);
  CHECK(values(rgb) == std::vector<float>{.5f, .5f, .5f});
  CHECK_THROWS_WITH(norm.apply(rgb), Catch::Contains("2 channels configured") &&
                                         Catch::Contains("[3, 1, 1]"));
  CHECK_THROWS_WITH(Normalize({0.5}, {0.0}), Catch::Contains("std must be positive"));
  CHECK_THROWS_AS(Normalize({0.5, 0.5}, {1.0}), ShapeError);
}

TEST_CASE("channel_mean_std", "[transforms][normalize]") {
  // channel 0: 0, 2, 4, 6 (mean 3, population std sqrt(5)); channel 1: all 1.
  auto x = Tensor<double>::from({2, 2, 1, 2}, {0, 2, 1, 1, 4, 6, 1, 1});
  auto [mean, stdev] = channel_mean_std(x);
  REQUIRE(mean.size() == 2);
  CHECK(mean[0] == 3.0);
  CHECK(stdev[0] == Approx(std::sqrt(5.0)).epsilon(1e-14));
  CHECK(mean[1] == 1.0);
  CHECK(stdev[1] == 0.0);
}

TEST_CASE("flips and rotations of a 4x4 ramp", "[transforms][distortions]") {
  const Tensor<float> r = ramp4();
  CHECK(values(flip_vertical(r)) ==
        std::vector<float>{12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3});
  CHECK(values(flip_horizontal(r)) ==
        std::vector<float>{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12});
  // Counter-clockwise, as torch.rot90(x, 1, [-2, -1]): the right column becomes the top row.
  CHECK(values(rot90(r, 1)) ==
        std::vector<float>{3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13, 0, 4, 8, 12});
  CHECK(values(rot90(r, 2)) ==
        std::vector<float>{15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK(values(rot90(r, 3)) ==
        std::vector<float>{12, 8, 4, 0, 13, 9, 5, 1, 14, 10, 6, 2, 15, 11, 7, 3});
  CHECK(values(rot90(r, -1)) == values(rot90(r, 3)));
  CHECK(values(rot90(r, 4)) == values(r));
  // Non-square: torch.rot90([[0, 1, 2], [3, 4, 5]], 1) = [[2, 5], [1, 4], [0, 3]].
  auto ns = Tensor<float>::from({1, 2, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor<float> rn = rot90(ns, 1);
  CHECK(rn.shape() == Shape{1, 3, 2});
  CHECK(values(rn) == std::vector<float>{2, 5, 1, 4, 0, 3});
  // Every plane of a batch is handled the same way.
  Tensor<float> batch({2, 3, 4, 4});
  for (index_t i = 0; i < batch.numel(); ++i) batch[i] = static_cast<float>(i % 16 + 100 * (i / 16));
  const Tensor<float> fb = flip_horizontal(batch), rb = rot90(batch, 1);
  for (index_t p = 0; p < 6; ++p)
    for (index_t j = 0; j < 16; ++j) {
      REQUIRE(fb[p * 16 + j] == flip_horizontal(r)[j] + 100.f * p);
      REQUIRE(rb[p * 16 + j] == rot90(r, 1)[j] + 100.f * p);
    }
}

TEST_CASE("brightness gradient: peak at the centre, decaying as 1 / (1 + 0.1 r)",
          "[transforms][distortions]") {
  Tensor<float> x({2, 9, 9}, 0.f);
  GradientSpot spot;
  spot.row = 4;
  spot.col = 2;
  spot.peak = 0.1;
  add_brightness_gradient_(x, spot);
  for (index_t c = 0; c < 2; ++c) {
    CHECK(x.at({c, 4, 2}) == 0.1f);
    CHECK(x.at({c, 4, 5}) == Approx(0.1 / 1.3).epsilon(1e-6));                 // r = 3
    CHECK(x.at({c, 0, 5}) == Approx(0.1 / 1.5).epsilon(1e-6));                 // r = 5
    CHECK(x.at({c, 8, 8}) == Approx(0.1 / (1 + 0.1 * std::sqrt(52.0))).epsilon(1e-6));
  }
  // Added to the image and clamped to [0, 1].
  Tensor<float> light({1, 3, 3}, 0.92f);
  add_brightness_gradient_(light, spot = GradientSpot{0, 0, 0.1});
  CHECK(light.at({0, 0, 0}) == 1.f);  // 1.02 clamped
  CHECK(light.at({0, 0, 1}) == 1.f);  // 0.92 + 0.1 / 1.1 clamped
  CHECK(light.at({0, 2, 2}) == Approx(0.92 + 0.1 / (1 + 0.1 * std::sqrt(8.0))).epsilon(1e-6));
  // Random spots: anywhere in the image, peak uniform in [0, 30/255).
  Rng rng(3);
  double max_peak = 0;
  std::map<index_t, int> rows;
  for (int i = 0; i < 2000; ++i) {
    const GradientSpot s = random_gradient_spot(28, 20, rng);
    REQUIRE(s.row >= 0);
    REQUIRE(s.row < 28);
    REQUIRE(s.col >= 0);
    REQUIRE(s.col < 20);
    REQUIRE(s.peak >= 0);
    REQUIRE(s.peak < 30.0 / 255.0);
    max_peak = std::max(max_peak, s.peak);
    rows[s.row]++;
  }
  CHECK(rows.size() == 28);
  CHECK(max_peak > 0.95 * 30.0 / 255.0);
}

TEST_CASE("occlusion zeroes exactly the patch, whose corner is in the bottom-left quadrant",
          "[transforms][distortions]") {
  Tensor<float> x({3, 8, 8}, 1.f);
  Patch p;
  p.top = 3;
  p.left = 1;
  p.height = 4;
  p.width = 2;
  occlude_(x, p);
  for (index_t c = 0; c < 3; ++c)
    for (index_t i = 0; i < 8; ++i)
      for (index_t j = 0; j < 8; ++j) {
        const bool inside = i >= 3 && i < 7 && j >= 1 && j < 3;
        REQUIRE(x.at({c, i, j}) == (inside ? 0.f : 1.f));
      }
  p.top = 6;
  CHECK_THROWS_WITH(occlude_(x, p), Catch::Contains("outside image [3, 8, 8]"));

  Rng rng(11);
  index_t min_h = 100, max_h = 0, min_w = 100, max_w = 0, min_b = 100, max_b = 0, max_l = 0;
  for (int i = 0; i < 3000; ++i) {
    const Patch q = random_occlusion_patch(28, 28, rng);
    min_h = std::min(min_h, q.height), max_h = std::max(max_h, q.height);
    min_w = std::min(min_w, q.width), max_w = std::max(max_w, q.width);
    min_b = std::min(min_b, q.bottom()), max_b = std::max(max_b, q.bottom());
    max_l = std::max(max_l, q.left);
    REQUIRE(q.left >= 0);
    REQUIRE(q.top >= 0);
    Tensor<float> img({1, 28, 28}, 1.f);
    occlude_(img, q);  // inside the image, or this throws
  }
  // Sides between 28/4 = 7 and 28/2 = 14; bottom-left corner in rows 14..27, columns 0..13.
  CHECK(min_h == 7);
  CHECK(max_h == 14);
  CHECK(min_w == 7);
  CHECK(max_w == 14);
  CHECK(min_b == 14);
  CHECK(max_b == 27);
  CHECK(max_l == 13);
}

TEST_CASE("gaussian noise: seeded, sigma met, clamped", "[transforms][noise]") {
  Tensor<float> x({2, 1, 128, 128}, 0.5f);
  Rng a(5), b(5), c(6);
  const Tensor<float> na = gaussian_noise(x, 30.0 / 255.0, a);
  const Tensor<float> nb = gaussian_noise(x, 30.0 / 255.0, b);
  const Tensor<float> nc = gaussian_noise(x, 30.0 / 255.0, c);
  CHECK(values(na) == values(nb));
  CHECK(values(na) != values(nc));
  double sum = 0, sq = 0;
  for (float v : na) sum += v - 0.5, sq += (v - 0.5) * (v - 0.5);
  const double n = static_cast<double>(na.numel());
  CHECK(std::abs(sum / n) < 0.002);
  CHECK(std::sqrt(sq / n) == Approx(30.0 / 255.0).epsilon(0.02));
  Tensor<float> black({1, 64, 64}, 0.f);
  add_gaussian_noise_(black, 0.1, a);
  const auto zeros = std::count(black.begin(), black.end(), 0.f);
  CHECK(*std::min_element(black.begin(), black.end()) == 0.f);
  CHECK(zeros == Approx(64 * 64 / 2).margin(200));  // negative half clamped to 0
  CHECK_THROWS_WITH(add_gaussian_noise_(black, -1.0, a), Catch::Contains("stddev must be >= 0"));
}

TEST_CASE("random-pixel noise: density met, values as asked, seeded", "[transforms][noise]") {
  Tensor<float> x({1, 3, 200, 200}, 0.f);
  Rng rng(17);
  const index_t changed = add_random_pixel_noise_(x, 0.1, rng);
  // Binomial(40000, 0.1): mean 4000, sd 60.
  CHECK(std::abs(changed - 4000) < 300);
  index_t nonzero = 0;
  for (index_t j = 0; j < 200 * 200; ++j)
    if (x[j] != 0.f || x[40000 + j] != 0.f || x[80000 + j] != 0.f) ++nonzero;
  CHECK(nonzero == changed);
  CHECK(*std::max_element(x.begin(), x.end()) < 1.f);

  Tensor<float> grey({2, 1, 100, 100}, 0.5f);
  Rng s1(1), s2(1), s3(2);
  const Tensor<float> a = random_pixel_noise(grey, 0.2, s1, PixelNoise::SaltAndPepper);
  const Tensor<float> b = random_pixel_noise(grey, 0.2, s2, PixelNoise::SaltAndPepper);
  const Tensor<float> c = random_pixel_noise(grey, 0.2, s3, PixelNoise::SaltAndPepper);
  CHECK(values(a) == values(b));
  CHECK(values(a) != values(c));
  const auto white = std::count(a.begin(), a.end(), 1.f), black = std::count(a.begin(), a.end(), 0.f);
  CHECK(white + black == Approx(4000).margin(250));
  CHECK(white == Approx(2000).margin(200));
  CHECK(std::count(a.begin(), a.end(), 0.5f) + white + black == 20000);

  Tensor<float> salt({3, 10, 10}, 0.f);
  CHECK(add_random_pixel_noise_(salt, 1.0, rng, PixelNoise::Salt) == 100);
  CHECK(values(salt) == std::vector<float>(300, 1.f));
  CHECK(add_random_pixel_noise_(salt, 0.0, rng) == 0);
  CHECK_THROWS_WITH(add_random_pixel_noise_(salt, 1.5, rng), Catch::Contains("density must lie in [0, 1]"));
}

TEST_CASE("choosing distortions follows the paper's probabilities", "[transforms][distortions]") {
  Rng rng(21);
  std::map<DistortionGroup, int> single_groups;
  std::map<Distortion, int> geometric;
  int with_occlusion = 0;
  const int trials = 6000;
  for (int i = 0; i < trials; ++i) {
    const auto one = choose_distortions(DistortionMode::Single, rng);
    REQUIRE(one.size() == 1);
    single_groups[distortion_group(one[0])]++;
    const auto many = choose_distortions(DistortionMode::Multiple, rng);
    REQUIRE((many.size() == 2 || many.size() == 3));
    REQUIRE(distortion_group(many[0]) == DistortionGroup::Geometric);
    REQUIRE(distortion_group(many[1]) == DistortionGroup::Noise);
    if (many.size() == 3) {
      REQUIRE(many[2] == Distortion::Occlusion);
      ++with_occlusion;
    }
    geometric[many[0]]++;
  }
  for (auto g : {DistortionGroup::Geometric, DistortionGroup::Noise, DistortionGroup::Occlusion})
    CHECK(single_groups[g] == Approx(trials / 3).margin(200));
  CHECK(with_occlusion == Approx(trials / 2).margin(250));
  // flip-ud, flip-lr, rotation: 1/3 each; each angle 1/9.
  CHECK(geometric[Distortion::FlipVertical] == Approx(trials / 3).margin(200));
  CHECK(geometric[Distortion::FlipHorizontal] == Approx(trials / 3).margin(200));
  for (auto d : {Distortion::Rotate90, Distortion::Rotate180, Distortion::Rotate270})
    CHECK(geometric[d] == Approx(trials / 9).margin(120));
  DistortionRecord rec;
  rec.applied = {Distortion::Rotate90, Distortion::GaussianNoise, Distortion::Occlusion};
  CHECK(rec.str() == "rotate90+gaussian_noise+occlusion");
  CHECK(rec.has(Distortion::Occlusion));
  CHECK_FALSE(rec.has(Distortion::FlipVertical));
  CHECK(DistortionRecord().str() == "none");
}

TEST_CASE("distort_ is reproducible, thread-count independent and reports what it did",
          "[transforms][distortions]") {
  Tensor<float> clean({40, 1, 12, 12});
  Rng fill(2);
  clean.fill_uniform(fill, 0.f, 1.f);
  for (auto mode : {DistortionMode::Single, DistortionMode::Multiple}) {
    Tensor<float> a = clean, b = clean;
    Rng ra(9), rb(9);
    set_num_threads(1);
    const auto recs_a = distort_(a, mode, ra);
    set_num_threads(2);
    const auto recs_b = distort_(b, mode, rb);
    REQUIRE(recs_a.size() == 40);
    CHECK(values(a) == values(b));
    int checked = 0;
    for (index_t i = 0; i < 40; ++i) {
      const DistortionRecord& r = recs_a[static_cast<std::size_t>(i)];
      REQUIRE(r.str() == recs_b[static_cast<std::size_t>(i)].str());
      REQUIRE(r.applied.size() == (mode == DistortionMode::Single ? 1u : r.applied.size()));
      if (r.has(Distortion::GaussianNoise)) continue;
      // Everything else can be replayed from the record with the primitives.
      Tensor<float> expect = clean.sample(i);
      for (Distortion d : r.applied) {
        switch (d) {
          case Distortion::FlipVertical: expect = flip_vertical(expect); break;
          case Distortion::FlipHorizontal: expect = flip_horizontal(expect); break;
          case Distortion::Rotate90: expect = rot90(expect, 1); break;
          case Distortion::Rotate180: expect = rot90(expect, 2); break;
          case Distortion::Rotate270: expect = rot90(expect, 3); break;
          case Distortion::BrightnessGradient: add_brightness_gradient_(expect, r.gradient); break;
          case Distortion::Occlusion: occlude_(expect, r.patch); break;
          default: FAIL("unexpected distortion");
        }
      }
      REQUIRE(values(a.sample(i)) == values(expect));
      ++checked;
    }
    CHECK(checked > 10);
    Tensor<float> c = clean;
    Rng rc(10);
    distort_(c, mode, rc);
    CHECK(values(c) != values(a));
  }
  Tensor<float> wide({1, 1, 4, 6}, 0.f);
  Rng rng(1);
  CHECK_THROWS_WITH(distort_(wide, DistortionMode::Single, rng),
                    Catch::Contains("must be square") && Catch::Contains("[1, 1, 4, 6]"));
  Tensor<float> image({1, 4, 6}, 0.f);
  DistortionRecord rec;
  CHECK_THROWS_WITH(apply_distortion_(image, Distortion::Rotate90, rng, rec),
                    Catch::Contains("rotate90") && Catch::Contains("non-square"));
  apply_distortion_(image, Distortion::Rotate180, rng, rec);
  CHECK(rec.str() == "rotate180");
}

TEST_CASE("gaussian noise distortion uses the paper's sigma of 30/255", "[transforms][distortions]") {
  Tensor<float> img({1, 100, 100}, 0.5f);
  Rng rng(4);
  const DistortionRecord r = apply_distortions_(img, {Distortion::GaussianNoise}, rng);
  CHECK(r.str() == "gaussian_noise");
  double sq = 0;
  for (float v : img) sq += (v - 0.5) * (v - 0.5);
  CHECK(std::sqrt(sq / 10000) == Approx(30.0 / 255.0).epsilon(0.03));
  Tensor<float> img2({1, 100, 100}, 0.5f);
  apply_distortions_(img2, {Distortion::GaussianNoise}, rng, DistortionOptions().noise_stddev(0.01));
  sq = 0;
  for (float v : img2) sq += (v - 0.5) * (v - 0.5);
  CHECK(std::sqrt(sq / 10000) == Approx(0.01).epsilon(0.03));
  CHECK_THROWS_WITH(DistortionOptions().gradient_decay(-1), Catch::Contains("gradient_decay"));
}
