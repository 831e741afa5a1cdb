// The JPEG and WebP baselines (cae/codec/baselines.hpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cae/codec/baselines.hpp"
#include "cae/codec/rd_metrics.hpp"

using namespace cae;
using namespace cae::codec;
using namespace cae::codec::baselines;

namespace {

// A smooth colour image with an edge and some texture: what lossy codecs are built for.
Tensor<float> test_image(index_t c, index_t h, index_t w) {
  Tensor<float> t({c, h, w});
  for (index_t k = 0; k < c; ++k)
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        double v = 0.5 + 0.3 * std::sin(0.11 * x + 0.7 * k) * std::cos(0.07 * y) +
                   0.05 * std::sin(0.9 * x * y / 40.0);
        if (x > w / 2 && y > h / 3) v -= 0.25;
        t[(k * h + y) * w + x] = static_cast<float>(std::min(1.0, std::max(0.0, v)));
      }
  return t;
}

// The sampling factors (h << 4 | v) of each component in the JPEG's
// start-of-frame segment.
std::vector<int> jpeg_sampling(const std::vector<std::uint8_t>& b) {
  for (std::size_t i = 2; i + 10 < b.size(); ++i)
    if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC1 || b[i + 1] == 0xC2)) {
      const int n = b[i + 9];
      std::vector<int> f;
      for (int k = 0; k < n; ++k) f.push_back(b[i + 10 + 3 * k + 1]);
      return f;
    }
  return {};
}

}  // namespace

TEST_CASE("JPEG baseline: 4:2:0, quality controls the rate, exact decoding", "[codec][baselines]") {
  const Tensor<float> img = test_image(3, 72, 88);
  const auto q90 = jpeg_encode(img, 90);
  const auto q50 = jpeg_encode(img, 50);
  const auto q5 = jpeg_encode(img, 5);
  CHECK(q90.size() > q50.size());
  CHECK(q50.size() > q5.size());
  CHECK(jpeg_sampling(q90) == std::vector<int>{0x22, 0x11, 0x11});
  CHECK(q90[0] == 0xFF);
  CHECK(q90[1] == 0xD8);
  CHECK(jpeg_encode(img, 90) == q90);  // deterministic
  CHECK(jpeg_encode(img, 50, /*optimize_coding=*/false).size() > q50.size());

  const Tensor<float> back90 = jpeg_decode(q90, "q90.jpg");
  REQUIRE(back90.shape() == img.shape());
  const double p90 = psnr_8bit(img, back90), p5 = psnr_8bit(img, jpeg_decode(q5));
  CHECK(p90 > 35);
  CHECK(p5 < p90 - 8);
  CHECK(jpeg_decode(q90).data()[100] == back90.data()[100]);

  const Tensor<float> grey = test_image(1, 40, 50);
  const auto g = jpeg_encode(grey, 75);
  CHECK(jpeg_sampling(g) == std::vector<int>{0x11});
  const Tensor<float> grey_back = jpeg_decode(g);
  CHECK(grey_back.shape() == grey.shape());
  CHECK(psnr_8bit(grey, grey_back) > 30);
  // A 1x1 image works too.
  CHECK(jpeg_decode(jpeg_encode(Tensor<float>({3, 1, 1}, 0.5f), 95)).shape() == Shape{3, 1, 1});
}

TEST_CASE("JPEG baseline: errors", "[codec][baselines]") {
  const auto bytes = jpeg_encode(test_image(3, 32, 32), 80);
  CHECK_THROWS_WITH(jpeg_encode(test_image(3, 8, 8), 0), Catch::Contains("quality must be in 1..100"));
  CHECK_THROWS_WITH(jpeg_encode(Tensor<float>({2, 8, 8}), 50), Catch::Contains("C = 1 or 3"));
  CHECK_THROWS_WITH(jpeg_decode(std::vector<std::uint8_t>(100, 7), "x.jpg"),
                    Catch::Contains("x.jpg: cannot decode JPEG"));
  CHECK_THROWS_WITH(jpeg_decode(std::vector<std::uint8_t>{}, "x.jpg"), Catch::Contains("empty JPEG data"));
  // Truncated anywhere: an error, never a silently patched image.
  for (std::size_t n = 1; n < bytes.size(); n += 1 + n / 4)
    CHECK_THROWS_AS(jpeg_decode(bytes.data(), n, "cut.jpg"), IoError);
}

TEST_CASE("WebP baseline: quality controls the rate, grey and RGB", "[codec][baselines]") {
  const Tensor<float> img = test_image(3, 72, 88);
  const auto q90 = webp_encode(img, 90);
  const auto q10 = webp_encode(img, 10);
  CHECK(q90.size() > q10.size());
  REQUIRE(q90.size() > 12);
  CHECK(std::string(q90.begin(), q90.begin() + 4) == "RIFF");
  CHECK(std::string(q90.begin() + 8, q90.begin() + 12) == "WEBP");
  CHECK(webp_encode(img, 90) == q90);
  const Tensor<float> back = webp_decode(q90, 3, "q90.webp");
  REQUIRE(back.shape() == img.shape());
  const double p90 = psnr_8bit(img, back), p10 = psnr_8bit(img, webp_decode(q10));
  CHECK(p90 > 33);
  CHECK(p10 < p90 - 3);

  const Tensor<float> grey = test_image(1, 40, 50);
  const Tensor<float> grey_back = webp_decode(webp_encode(grey, 80), 1);
  CHECK(grey_back.shape() == grey.shape());
  CHECK(psnr_8bit(grey, grey_back) > 30);

  CHECK_THROWS_WITH(webp_decode(std::vector<std::uint8_t>(64, 1), 3, "x.webp"),
                    Catch::Contains("x.webp: not a WebP image"));
  CHECK_THROWS_AS(webp_decode(q90.data(), q90.size() / 2, 3, "cut.webp"), IoError);
  CHECK_THROWS_WITH(webp_encode(img, 101), Catch::Contains("quality must be in 0..100"));
  CHECK_THROWS_WITH(webp_decode(q90, 2), Catch::Contains("channels must be 1 or 3"));
}
