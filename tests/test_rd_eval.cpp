#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "cae/codec/rd_eval.hpp"
#include "cae/figures.hpp"

using namespace cae;
using namespace cae::codec;

namespace {
RdSample sample(const std::string& image, const std::string& codec, int setting, double bpp,
                double psnr, double ms = std::nan("")) {
  RdSample s;
  s.image = image, s.codec = codec, s.setting = setting, s.bpp = bpp, s.psnr = psnr, s.ms_ssim = ms;
  s.width = 100, s.height = 50;
  s.bytes = static_cast<std::size_t>(bpp * 5000 / 8);
  return s;
}
}  // namespace

TEST_CASE("mean_curve averages bpp, PSNR and MS-SSIM over the images of each setting", "[rd_eval]") {
  const std::vector<RdSample> samples = {
      sample("a.png", "jpeg", 50, 1.0, 30.0, 0.98), sample("b.png", "jpeg", 50, 2.0, 34.0, 0.96),
      sample("a.png", "jpeg", 10, 0.2, 24.0, 0.90), sample("b.png", "jpeg", 10, 0.4, 22.0, 0.80),
      sample("a.png", "webp", 10, 0.1, 25.0, 0.91)};
  const std::vector<RdMeanPoint> c = mean_curve(samples, "jpeg");
  REQUIRE(c.size() == 2);
  CHECK(c[0].setting == 10);  // ordered by mean bpp
  CHECK(c[0].images == 2);
  CHECK(c[0].bpp == Approx(0.3));
  CHECK(c[0].psnr == Approx(23.0));
  CHECK(c[0].ms_ssim == Approx(0.85));
  CHECK(c[0].ms_ssim_db == Approx(-10 * std::log10(0.15)));  // of the mean, not the mean of dBs
  CHECK(c[1].bpp == Approx(1.5));
  CHECK(c[1].psnr == Approx(32.0));
  const std::vector<RdPoint> p = rd_points(c, RdQuality::MsSsimDb);
  REQUIRE(p.size() == 2);
  CHECK(p[1].quality == Approx(-10 * std::log10(0.03)));
  // No MS-SSIM anywhere (small images): NaN, and no points for the MS-SSIM curve.
  const std::vector<RdMeanPoint> w = mean_curve({sample("a.png", "webp", 10, 0.1, 25.0)}, "webp");
  CHECK(std::isnan(w[0].ms_ssim));
  CHECK(rd_points(w, RdQuality::MsSsimDb).empty());
  CHECK(rd_points(w).size() == 1);
}

TEST_CASE("mean_curve refuses means that would not compare", "[rd_eval]") {
  CHECK_THROWS_WITH(mean_curve({sample("a.png", "jpeg", 5, 1, 30)}, "cae"),
                    Catch::Contains("no samples of codec 'cae'"));
  CHECK_THROWS_WITH(mean_curve({sample("a.png", "jpeg", 5, 1, 30), sample("a.png", "jpeg", 9, 2, 31),
                                sample("b.png", "jpeg", 9, 2, 31)},
                               "jpeg"),
                    Catch::Contains("not the same set"));
  CHECK_THROWS_WITH(mean_curve({sample("a.png", "jpeg", 5, 1, 30), sample("a.png", "jpeg", 5, 2, 31)}, "jpeg"),
                    Catch::Contains("two samples of image 'a.png'"));
  CHECK_THROWS_WITH(mean_curve({sample("a.png", "jpeg", 5, 1, 30, 0.9), sample("b.png", "jpeg", 5, 2, 31)},
                               "jpeg"),
                    Catch::Contains("1 of 2 images have an MS-SSIM"));
}

TEST_CASE("rate_window keeps the points in range and one beyond each end", "[rd_eval]") {
  const std::vector<RdPoint> c = {{2.0, 5}, {0.1, 1}, {0.2, 2}, {0.5, 3}, {1.0, 4}, {3.0, 6}};
  const std::vector<RdPoint> w = rate_window(c, 0.3, 1.0);
  REQUIRE(w.size() == 4);
  CHECK(w[0].rate == 0.2);
  CHECK(w[1].rate == 0.5);
  CHECK(w[2].rate == 1.0);
  CHECK(w[3].rate == 2.0);
  CHECK(rate_window(c, 0.05, 10).size() == c.size());
  CHECK(rate_window(c, 5, 6).size() == 1);  // only the last point below
}

TEST_CASE("BD-rate over the shared rates: exact on curves a cubic fits, robust to far anchor points",
          "[rd_eval]") {
  // Quality linear in log-rate, q = 10 + 5 ln r: both BD fits are exact. The test
  // curve is 1 dB better at every rate, so it needs e^(-1/5) of the bits.
  std::vector<RdPoint> anchor, test;
  for (double r : {0.05, 0.1, 0.2, 0.4, 0.8, 1.6}) anchor.push_back({r, 10 + 5 * std::log(r)});
  for (double r : {0.12, 0.25, 0.5, 0.7, 1.0}) test.push_back({r, 11 + 5 * std::log(r)});
  BdSummary s = bd_rate_over_shared_rates(anchor, test);
  REQUIRE(s.ok);
  CHECK(s.bd_rate == Approx(100 * (std::exp(-0.2) - 1)).epsilon(1e-9));
  CHECK(s.bd_quality == Approx(1.0).epsilon(1e-9));
  CHECK(s.rate_lo == 0.12);
  CHECK(s.rate_hi == 1.0);
  CHECK(s.anchor_points == 5);  // 0.1 .. 0.8 and 1.6 beyond the end
  CHECK(s.quality_lo == Approx(11 + 5 * std::log(0.12)));
  // JPEG-like anchor points far above the test's rates that bend away from the
  // line: the whole-curve cubic follows them, the cut one does not.
  std::vector<RdPoint> far = anchor;
  for (double r : {3.0, 4.0, 5.0, 6.0}) far.push_back({r, 10 + 5 * std::log(1.6) + 0.3 * (r - 1.6)});
  const BdSummary cut = bd_rate_over_shared_rates(far, test);
  REQUIRE(cut.ok);
  CHECK(cut.bd_rate == Approx(s.bd_rate).epsilon(1e-9));
  CHECK(std::abs(bd_rate(far, test) - s.bd_rate) > 0.5);
}

TEST_CASE("BD-rate over the shared rates says why it cannot be computed", "[rd_eval]") {
  std::vector<RdPoint> anchor, test, high;
  for (double r : {0.1, 0.2, 0.4, 0.8, 1.6}) anchor.push_back({r, 20 + 5 * std::log(r)});
  for (double r : {0.1, 0.2, 0.4}) test.push_back({r, 25 + 5 * std::log(r)});
  BdSummary s = bd_rate_over_shared_rates(anchor, test);
  CHECK_FALSE(s.ok);
  CHECK_THAT(s.reason, Catch::Contains("a cubic fit needs 4"));
  for (double r : {0.1, 0.2, 0.4, 0.8}) high.push_back({r, 60 + r});  // far above the anchor
  s = bd_rate_over_shared_rates(anchor, high);
  CHECK_FALSE(s.ok);
  CHECK_THAT(s.reason, Catch::Contains("share no quality range"));
  s = bd_rate_over_shared_rates({{0.1, 1}, {0.2, 2}, {0.3, 3}, {5.0, 4}}, {{1, 1}, {1.1, 2}, {1.2, 3}, {1.3, 4}});
  CHECK_FALSE(s.ok);
  CHECK_THAT(s.reason, Catch::Contains("the anchor has 2 distinct rates"));
  s = bd_rate_over_shared_rates(anchor, {{0.1, 1}, {0.2, 2}, {0.3, std::nan("")}, {0.4, 4}});
  CHECK_FALSE(s.ok);
  CHECK_THAT(s.reason, Catch::Contains("the test curve has the point"));
}

TEST_CASE("quality_at_rate interpolates in log-rate inside the curve only", "[rd_eval]") {
  const std::vector<RdPoint> c = {{0.4, 30}, {0.1, 20}};
  CHECK(quality_at_rate(c, 0.1) == 20);
  CHECK(quality_at_rate(c, 0.4) == 30);
  CHECK(quality_at_rate(c, 0.2) == Approx(25));  // halfway in log-rate
  CHECK(std::isnan(quality_at_rate(c, 0.05)));
  CHECK(std::isnan(quality_at_rate(c, 0.5)));
  CHECK(std::isnan(quality_at_rate({}, 0.2)));
}

TEST_CASE("nearest_rate picks the setting nearest a target bpp on one image", "[rd_eval]") {
  const std::vector<RdSample> s = {sample("a.png", "jpeg", 10, 0.20, 24), sample("a.png", "jpeg", 20, 0.30, 26),
                                   sample("b.png", "jpeg", 5, 0.25, 20), sample("a.png", "webp", 10, 0.26, 27)};
  CHECK(nearest_rate(s, "a.png", "jpeg", 0.26).setting == 20);
  CHECK(nearest_rate(s, "a.png", "jpeg", 0.25).setting == 10);  // a tie: the lower setting
  CHECK(nearest_rate(s, "b.png", "jpeg", 1.0).setting == 5);
  CHECK_THROWS_WITH(nearest_rate(s, "b.png", "webp", 0.25), Catch::Contains("no sample of codec 'webp' on image 'b.png'"));
}

TEST_CASE("line plots: a fixed x range clips points, markers mark every point", "[figures][plot]") {
  using namespace cae::figures;
  Series in_range, beyond;
  in_range.x = {0.0, 0.5, 1.0};
  in_range.y = {1.0, 2.0, 3.0};
  in_range.markers = true;
  beyond.x = {0.5, 3.0};  // the second point is outside [0, 1.5]: not drawn, not in the y range
  beyond.y = {2.0, 100.0};
  const PlotOptions opt = PlotOptions().width(300).height(200).x_range(0, 1.5);
  const Tensor<float> img = render_line_plot({in_range, beyond}, opt);
  auto count = [&](const Tensor<float>& im, const std::array<float, 3>& c) {
    int n = 0;
    for (index_t y = 0; y < im.dim(1); ++y)
      for (index_t x = 0; x < im.dim(2); ++x)
        n += im.at({0, y, x}) == c[0] && im.at({1, y, x}) == c[1] && im.at({2, y, x}) == c[2];
    return n;
  };
  const auto blue = series_colour(0), orange = series_colour(1);
  // The y axis fits 1..3 (not 100): blue spans most of the plot's height.
  int top = 1000, bottom = -1, right = -1;
  for (index_t y = 0; y < 200; ++y)
    for (index_t x = 0; x < 300; ++x)
      if (img.at({0, y, x}) == blue[0] && img.at({1, y, x}) == blue[1] && img.at({2, y, x}) == blue[2])
        top = std::min<int>(top, y), bottom = std::max<int>(bottom, y), right = std::max<int>(right, x);
  CHECK(bottom - top > 100);
  // x = 1.0 of a 0..1.5 axis: blue ends about two thirds across, not at the right edge.
  CHECK(right < 230);
  // The orange series has one point in range and is drawn as a lone dot.
  CHECK(count(img, orange) > 0);
  CHECK(count(img, orange) < 100);
  // Markers add pixels to a line drawn without them.
  Series plain = in_range;
  plain.markers = false;
  CHECK(count(render_line_plot({plain}, opt), blue) < count(render_line_plot({in_range}, opt), blue));
  CHECK_THROWS_WITH(PlotOptions().x_range(1, 1), Catch::Contains("x_range needs finite lo < hi"));
}

TEST_CASE("line plots: the legend can sit in the bottom-right corner", "[figures][plot]") {
  using namespace cae::figures;
  Series s;
  s.y = {1.0, 2.0};
  s.label = "a label";
  auto legend_rows = [](const Tensor<float>& img) {  // rows holding the legend's grey frame
    std::vector<int> rows;
    for (index_t y = 0; y < img.dim(1); ++y)
      for (index_t x = 0; x < img.dim(2); ++x)
        if (std::abs(img.at({0, y, x}) - 0.6f) < 1e-6f && std::abs(img.at({2, y, x}) - 0.6f) < 1e-6f) {
          rows.push_back(static_cast<int>(y));
          break;
        }
    return rows;
  };
  const auto top = legend_rows(render_line_plot({s}, PlotOptions().width(300).height(200)));
  const auto bottom = legend_rows(render_line_plot({s}, PlotOptions().width(300).height(200).legend_bottom_right(true)));
  REQUIRE_FALSE(top.empty());
  REQUIRE_FALSE(bottom.empty());
  CHECK(top.front() < 60);
  CHECK(bottom.front() > 100);
}
