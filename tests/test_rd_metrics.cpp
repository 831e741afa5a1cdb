// Rate-distortion metrics (cae/codec/rd_metrics.hpp): bpp, 8-bit PSNR,
// MS-SSIM against a torch implementation, Bjontegaard deltas.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cae/codec/rd_metrics.hpp"
#include "parity.hpp"

using namespace cae;
using namespace cae::codec;

namespace {

// The integer test images of tests/fixturegen/gen_msssim.py, formula for formula.
Tensor<double> pattern(index_t c, index_t h, index_t w, std::int64_t seed) {
  Tensor<double> t({c, h, w});
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        const std::int64_t zone = ((x * x * (3 + k) + y * y * (5 + seed) + x * y * (k + 1 + seed)) >> 6) & 255;
        const std::int64_t ramp = (x * 255 / w + y * 255 / h + 64 * k) % 256;
        t[(k * h + y) * w + x] = static_cast<double>((zone + ramp) >> 1);
      }
  return t;
}

Tensor<double> noise(const Tensor<double>& img, std::int64_t amplitude, std::int64_t seed) {
  Tensor<double> t = img;
  const index_t c = img.dim(0), h = img.dim(1), w = img.dim(2);
  for (std::int64_t k = 0; k < c; ++k)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x) {
        std::int64_t hsh = (x * 31 + y * 17 + k * 7 + seed) % 1021;
        hsh = (hsh * hsh * 13 + hsh * 7 + 3) % 1021;
        const double v = img[(k * h + y) * w + x] + static_cast<double>(hsh % (2 * amplitude + 1) - amplitude);
        t[(k * h + y) * w + x] = std::min(255.0, std::max(0.0, v));
      }
  return t;
}

Tensor<double> blur(const Tensor<double>& img) {
  Tensor<double> t = img;
  const index_t c = img.dim(0), h = img.dim(1), w = img.dim(2);
  auto at = [&](index_t k, index_t y, index_t x) {
    y = std::min(h - 1, std::max<index_t>(0, y));
    x = std::min(w - 1, std::max<index_t>(0, x));
    return static_cast<std::int64_t>(img[(k * h + y) * w + x]);
  };
  for (index_t k = 0; k < c; ++k)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        std::int64_t s = 0;
        for (index_t dy = -1; dy <= 1; ++dy)
          for (index_t dx = -1; dx <= 1; ++dx) s += at(k, y + dy, x + dx);
        t[(k * h + y) * w + x] = static_cast<double>(s / 9);
      }
  return t;
}

double sum(const Tensor<double>& t, bool squared) {
  double s = 0;
  for (double v : t) s += squared ? v * v : v;
  return s;
}

}  // namespace

TEST_CASE("bits per pixel and 8-bit PSNR", "[codec][rd_metrics]") {
  CHECK(bits_per_pixel(1000, 100, 80) == 1.0);
  CHECK(bits_per_pixel(3, 2, 3) == 4.0);
  CHECK_THROWS_WITH(bits_per_pixel(3, 0, 3), Catch::Contains("must be positive"));

  // 0.5 -> level 128 (127.5 rounds up), 0.5 + 1.2 / 255 -> 129: one level
  // off in one of 4 values, MSE 1/4, PSNR 10 log10(255^2 * 4) = 54.15 dB.
  auto a = Tensor<float>::from({1, 2, 2}, {0.f, 1.f, 0.5f, 0.2f});
  auto b = Tensor<float>::from({1, 2, 2}, {0.f, 1.f, 0.5f + 1.2f / 255, 0.2f});
  CHECK(psnr_8bit(a, b) == Approx(10 * std::log10(255.0 * 255.0 * 4)));
  CHECK(psnr_8bit(a, a) == std::numeric_limits<double>::infinity());
  // Values outside [0, 1] clamp, as an 8-bit file holds them.
  auto c = Tensor<float>::from({1, 2, 2}, {-0.3f, 1.7f, 0.5f, 0.2f});
  CHECK(psnr_8bit(a, c) == std::numeric_limits<double>::infinity());
  const Tensor<float> q = quantize_8bit(Tensor<float>::from({3}, {0.2f, 0.5f, 2.0f}));
  CHECK(q[0] == Approx(51 / 255.0));
  CHECK(q[1] == Approx(128 / 255.0));
  CHECK(q[2] == 1.0f);
  CHECK_THROWS_WITH(psnr_8bit(a, Tensor<float>({1, 2, 3})), Catch::Contains("shapes [1, 2, 2] and [1, 2, 3] differ"));
}

TEST_CASE("MS-SSIM matches a torch implementation of pytorch-msssim", "[codec][rd_metrics][msssim]") {
  const auto files = testing::fixture_files("msssim");
  REQUIRE(files.size() == 4);
  for (const auto& path : files) {
    INFO(path);
    testing::Fixture f(path);
    const index_t c = f.config_int("channels"), h = f.config_int("height"), w = f.config_int("width");
    const int seed = f.config_int("seed"), amplitude = f.config_int("amplitude");
    const std::string kind = f.config_string("distortion");
    const Tensor<double> a = pattern(c, h, w, seed);
    const Tensor<double> b = kind == "noise" ? noise(a, amplitude, seed)
                             : kind == "blur" ? blur(a)
                                              : noise(blur(a), amplitude, seed);
    const Tensor<double> sums = f.tensor<double>("checksums");
    REQUIRE(sum(a, false) == sums[0]);
    REQUIRE(sum(a, true) == sums[1]);
    REQUIRE(sum(b, false) == sums[2]);
    REQUIRE(sum(b, true) == sums[3]);

    MsSsimOptions opt;
    opt.data_range = f.config_double("data_range");
    const std::vector<double> per_channel = ms_ssim_per_channel(a, b, opt);
    const Tensor<double> expected = f.tensor<double>("ms_ssim_per_channel");
    REQUIRE(static_cast<index_t>(per_channel.size()) == expected.numel());
    for (index_t k = 0; k < expected.numel(); ++k) CHECK(per_channel[k] == Approx(expected[k]).epsilon(1e-10));
    const double value = f.tensor<double>("ms_ssim")[0];
    CHECK(ms_ssim(a, b, opt) == Approx(value).epsilon(1e-10));

    // The same images as [0, 1] floats through the 8-bit entry point.
    Tensor<float> fa(a.shape()), fb(b.shape());
    for (index_t i = 0; i < a.numel(); ++i)
      fa[i] = static_cast<float>(a[i] / 255.0), fb[i] = static_cast<float>(b[i] / 255.0);
    CHECK(ms_ssim_8bit(fa, fb) == Approx(value).epsilon(1e-10));
    CHECK(ms_ssim_8bit(fa, fa) == Approx(1.0).epsilon(1e-12));
  }
  CHECK(ms_ssim_db(0.99) == Approx(20.0));
  CHECK_THROWS_WITH(ms_ssim(Tensor<double>({3, 160, 400}), Tensor<double>({3, 160, 400})),
                    Catch::Contains("both sides must exceed 160 pixels for 5 scales"));
}

TEST_CASE("BD-rate and BD-PSNR: hand-checked curves", "[codec][rd_metrics][bd]") {
  // Anchor: ln R = (P - 30) / 5 on P in [28, 40]. Test: ln R lower by
  // 0.2 - 0.01 (P - 30) on P in [30, 42]. Both are lines, so the cubic fits are
  // exact; over the common range [30, 40] the mean log-rate gap is
  // (0.01 * 50 - 0.2 * 10) / 10 = -0.15, so BD-rate = 100 (e^-0.15 - 1) = -13.929 %.
  std::vector<RdPoint> anchor, test;
  for (double p : {28.0, 31.0, 34.0, 37.0, 40.0}) anchor.push_back({std::exp((p - 30) / 5), p});
  for (double p : {30.0, 33.0, 36.0, 39.0, 42.0})
    test.push_back({std::exp((p - 30) / 5 + 0.01 * (p - 30) - 0.2), p});
  CHECK(bd_rate(anchor, test) == Approx(100 * (std::exp(-0.15) - 1)).epsilon(1e-9));
  CHECK(bd_rate(anchor, test) == Approx(-13.9292).epsilon(1e-5));
  // BD-PSNR: P_anchor = 30 + 5 u, P_test = 30 + (u + 0.2) / 0.21 with u = ln R,
  // common range u in [-0.2, 2]: mean gap (2.2^2 / 2 / 0.21 - 5 (4 - 0.04) / 2) / 2.2
  // = 0.738095 dB.
  CHECK(bd_quality(anchor, test) == Approx((2.42 / 0.21 - 9.9) / 2.2).epsilon(1e-9));
  CHECK(bd_rate(anchor, anchor) == Approx(0.0).margin(1e-9));

  // A codec that needs 80 % of the anchor's bits at every quality, on a curved
  // (noisy) anchor: -20 % exactly, as the least-squares fit shifts by ln 0.8.
  const std::vector<RdPoint> curved = {{0.1, 24.1}, {0.2, 27.3}, {0.35, 29.0}, {0.5, 30.8},
                                       {0.8, 32.2}, {1.2, 34.9}};
  std::vector<RdPoint> cheaper = curved;
  for (RdPoint& p : cheaper) p.rate *= 0.8;
  CHECK(bd_rate(curved, cheaper) == Approx(-20.0).epsilon(1e-9));
  CHECK(bd_rate(cheaper, curved) == Approx(25.0).epsilon(1e-9));

  CHECK_THROWS_WITH(bd_rate({curved.begin(), curved.begin() + 3}, cheaper),
                    Catch::Contains("the anchor curve has 3 points; a cubic fit needs at least 4"));
  std::vector<RdPoint> far = curved;
  for (RdPoint& p : far) p.quality += 20;
  CHECK_THROWS_WITH(bd_rate(curved, far), Catch::Contains("do not overlap"));
  std::vector<RdPoint> bad = curved;
  bad[2].rate = 0;
  CHECK_THROWS_WITH(bd_rate(curved, bad), Catch::Contains("rates must be positive"));
}
