// Rate-distortion evaluation of image codecs over a set of images: the per-image
// measurements, the mean curve of each codec (one point per setting), BD-rate
// of one mean curve against another restricted to the rates they share, and
// the comparisons at equal rate that RD plots show.
//
//   std::vector<RdSample> samples = ...;          // one per (codec, setting, image)
//   auto jpeg = mean_curve(samples, "jpeg");       // one RdMeanPoint per JPEG quality
//   auto cae  = mean_curve(samples, "cae");
//   BdSummary s = bd_rate_over_shared_rates(rd_points(jpeg), rd_points(cae));
//
// Averaging follows CompressAI's evaluation (compressai.utils.eval_model): for
// each setting, the arithmetic means over the images of bpp, of PSNR in dB and
// of MS-SSIM; MS-SSIM in dB is computed from the mean MS-SSIM, as CompressAI's
// plots do. Every setting of a codec must cover the same images, or the means
// of two settings would not be comparable.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cae/codec/rd_metrics.hpp"
#include "cae/error.hpp"

namespace cae::codec {

// One coded image: one codec at one setting on one image.
struct RdSample {
  std::string image;  // the image's name (file name)
  std::string codec;  // which curve it belongs to: "jpeg", "webp", "cae", ...
  int setting = 0;    // the codec's quality setting (JPEG / WebP quality, cae quality level)
  index_t width = 0, height = 0;
  std::size_t bytes = 0;
  double bpp = 0, psnr = 0;
  double ms_ssim = std::numeric_limits<double>::quiet_NaN();  // NaN: image too small for MS-SSIM
};

// The mean over the images of one setting of one codec.
struct RdMeanPoint {
  std::string codec;
  int setting = 0;
  int images = 0;
  double bpp = 0, psnr = 0;
  // Means over the images that have an MS-SSIM (all or none of them, see mean_curve).
  double ms_ssim = std::numeric_limits<double>::quiet_NaN();
  double ms_ssim_db = std::numeric_limits<double>::quiet_NaN();  // -10 log10(1 - ms_ssim)
};

// The mean curve of `codec`: one point per setting, ordered by mean bpp.
// Throws if the codec has no samples, if two settings cover different images,
// or if an image has an MS-SSIM at one setting and none at another.
inline std::vector<RdMeanPoint> mean_curve(const std::vector<RdSample>& samples,
                                           const std::string& codec) {
  std::map<int, std::vector<const RdSample*>> by_setting;
  for (const RdSample& s : samples)
    if (s.codec == codec) by_setting[s.setting].push_back(&s);
  CAE_CHECK(!by_setting.empty(), Error, "mean_curve: no samples of codec '", codec, "'");
  std::set<std::string> first_images;
  for (const RdSample* s : by_setting.begin()->second) first_images.insert(s->image);
  std::vector<RdMeanPoint> out;
  for (const auto& [setting, list] : by_setting) {
    std::set<std::string> images;
    for (const RdSample* s : list) {
      CAE_CHECK(images.insert(s->image).second, Error, "mean_curve: codec '", codec, "' setting ",
                setting, " has two samples of image '", s->image, "'");
    }
    CAE_CHECK(images == first_images, Error, "mean_curve: codec '", codec, "' setting ", setting,
              " covers ", images.size(), " images, setting ", by_setting.begin()->first,
              " covers ", first_images.size(), " (not the same set): their means would not compare");
    RdMeanPoint p;
    p.codec = codec;
    p.setting = setting;
    p.images = static_cast<int>(list.size());
    double ms = 0;
    int with_ms = 0;
    for (const RdSample* s : list) {
      p.bpp += s->bpp;
      p.psnr += s->psnr;
      if (std::isfinite(s->ms_ssim)) ms += s->ms_ssim, ++with_ms;
    }
    p.bpp /= p.images;
    p.psnr /= p.images;
    CAE_CHECK(with_ms == 0 || with_ms == p.images, Error, "mean_curve: codec '", codec, "' setting ",
              setting, ": ", with_ms, " of ", p.images,
              " images have an MS-SSIM; a mean over some of them would not compare");
    if (with_ms > 0) {
      p.ms_ssim = ms / with_ms;
      p.ms_ssim_db = ms_ssim_db(p.ms_ssim);
    }
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(),
            [](const RdMeanPoint& a, const RdMeanPoint& b) { return a.bpp < b.bpp; });
  return out;
}

// What an RD curve plots: rate in bpp against quality.
enum class RdQuality { Psnr, MsSsimDb };

// The (bpp, quality) points of a mean curve, without those whose quality is not finite
// (PSNR is +inf where a codec was lossless; MS-SSIM is NaN on small images).
inline std::vector<RdPoint> rd_points(const std::vector<RdMeanPoint>& curve,
                                      RdQuality quality = RdQuality::Psnr) {
  std::vector<RdPoint> out;
  for (const RdMeanPoint& p : curve) {
    const double q = quality == RdQuality::Psnr ? p.psnr : p.ms_ssim_db;
    if (std::isfinite(q) && std::isfinite(p.bpp) && p.bpp > 0) out.push_back({p.bpp, q});
  }
  std::sort(out.begin(), out.end(), [](const RdPoint& a, const RdPoint& b) { return a.rate < b.rate; });
  return out;
}

// The points of `curve` (ordered by rate) with rate in [lo, hi], and the
// nearest point beyond each end, so that a fit of the result covers [lo, hi].
inline std::vector<RdPoint> rate_window(const std::vector<RdPoint>& curve, double lo, double hi) {
  std::vector<RdPoint> sorted = curve;
  std::sort(sorted.begin(), sorted.end(), [](const RdPoint& a, const RdPoint& b) { return a.rate < b.rate; });
  std::vector<RdPoint> out;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const bool inside = sorted[i].rate >= lo && sorted[i].rate <= hi;
    const bool last_below = sorted[i].rate < lo && (i + 1 == sorted.size() || sorted[i + 1].rate >= lo);
    const bool first_above = sorted[i].rate > hi && (i == 0 || sorted[i - 1].rate <= hi);
    if (inside || last_below || first_above) out.push_back(sorted[i]);
  }
  return out;
}

// A BD-rate with what it was computed over, or why it could not be.
struct BdSummary {
  bool ok = false;
  std::string reason;         // why not, when !ok
  double bd_rate = std::numeric_limits<double>::quiet_NaN();     // percent; < 0: test needs fewer bits
  double bd_quality = std::numeric_limits<double>::quiet_NaN();  // dB at equal rate; > 0: test better
  double rate_lo = 0, rate_hi = 0;        // the test curve's rate range the anchor was cut to
  double quality_lo = 0, quality_hi = 0;  // the quality range both fits are integrated over
  int anchor_points = 0, test_points = 0;
};

// BD-rate (and BD-quality) of `test` against `anchor` over the rates they
// share: the anchor is first cut to the test curve's rate range (rate_window:
// its points in that range and one beyond each end), because a cubic fitted to
// a classical codec's whole curve (JPEG from 0.1 to 4 bpp) follows the part a
// learned codec never reaches, and bd_rate then integrates the fits over the
// quality range both cut curves cover. Never throws for curves that are too
// short or do not overlap: ok = false and reason say so.
inline BdSummary bd_rate_over_shared_rates(const std::vector<RdPoint>& anchor,
                                           const std::vector<RdPoint>& test) {
  BdSummary s;
  auto distinct = [](const std::vector<RdPoint>& c, bool rates) {
    std::set<double> v;
    for (const RdPoint& p : c) v.insert(rates ? p.rate : p.quality);
    return static_cast<int>(v.size());
  };
  s.test_points = static_cast<int>(test.size());
  for (const RdPoint& p : anchor)
    if (!(p.rate > 0) || !std::isfinite(p.rate) || !std::isfinite(p.quality)) {
      s.reason = str("the anchor curve has the point (", p.rate, ", ", p.quality, ")");
      return s;
    }
  for (const RdPoint& p : test)
    if (!(p.rate > 0) || !std::isfinite(p.rate) || !std::isfinite(p.quality)) {
      s.reason = str("the test curve has the point (", p.rate, ", ", p.quality, ")");
      return s;
    }
  if (distinct(test, true) < 4 || distinct(test, false) < 4) {
    s.reason = str("the test curve has ", distinct(test, true), " distinct rates and ",
                   distinct(test, false), " distinct qualities; a cubic fit needs 4");
    return s;
  }
  auto [tmin, tmax] = std::minmax_element(test.begin(), test.end(),
                                          [](const RdPoint& a, const RdPoint& b) { return a.rate < b.rate; });
  s.rate_lo = tmin->rate;
  s.rate_hi = tmax->rate;
  const std::vector<RdPoint> cut = rate_window(anchor, s.rate_lo, s.rate_hi);
  s.anchor_points = static_cast<int>(cut.size());
  if (distinct(cut, true) < 4 || distinct(cut, false) < 4) {
    s.reason = str("the anchor has ", distinct(cut, true), " distinct rates in [", s.rate_lo, ", ",
                   s.rate_hi, "] bpp (with one beyond each end); a cubic fit needs 4");
    return s;
  }
  double qa_lo = cut[0].quality, qa_hi = cut[0].quality, qt_lo = test[0].quality, qt_hi = test[0].quality;
  for (const RdPoint& p : cut) qa_lo = std::min(qa_lo, p.quality), qa_hi = std::max(qa_hi, p.quality);
  for (const RdPoint& p : test) qt_lo = std::min(qt_lo, p.quality), qt_hi = std::max(qt_hi, p.quality);
  s.quality_lo = std::max(qa_lo, qt_lo);
  s.quality_hi = std::min(qa_hi, qt_hi);
  if (!(s.quality_hi > s.quality_lo)) {
    s.reason = str("the curves share no quality range (anchor ", qa_lo, " to ", qa_hi, ", test ",
                   qt_lo, " to ", qt_hi, ")");
    return s;
  }
  s.bd_rate = bd_rate(cut, test);
  s.bd_quality = bd_quality(cut, test);
  s.ok = std::isfinite(s.bd_rate) && std::isfinite(s.bd_quality);
  if (!s.ok) s.reason = "the fits gave a non-finite result";
  return s;
}

// The quality of `curve` at `rate`, linear in log-rate between the two
// neighbouring points (ordered by rate); NaN outside the curve's rate range.
inline double quality_at_rate(const std::vector<RdPoint>& curve, double rate) {
  std::vector<RdPoint> c = curve;
  std::sort(c.begin(), c.end(), [](const RdPoint& a, const RdPoint& b) { return a.rate < b.rate; });
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (c.empty() || !(rate > 0) || rate < c.front().rate || rate > c.back().rate) return nan;
  for (std::size_t i = 0; i + 1 < c.size(); ++i) {
    if (rate > c[i + 1].rate) continue;
    if (c[i + 1].rate == c[i].rate) return std::max(c[i].quality, c[i + 1].quality);
    const double t = (std::log(rate) - std::log(c[i].rate)) / (std::log(c[i + 1].rate) - std::log(c[i].rate));
    return c[i].quality + t * (c[i + 1].quality - c[i].quality);
  }
  return c.back().quality;  // rate == the last rate
}

// Of the samples of `codec` on `image`, the one whose bpp is nearest `target_bpp`
// (the lower setting on a tie). Throws if there is none.
inline const RdSample& nearest_rate(const std::vector<RdSample>& samples, const std::string& image,
                                    const std::string& codec, double target_bpp) {
  const RdSample* best = nullptr;
  for (const RdSample& s : samples) {
    if (s.image != image || s.codec != codec) continue;
    const double d = std::abs(s.bpp - target_bpp);
    if (!best || d < std::abs(best->bpp - target_bpp) ||
        (d == std::abs(best->bpp - target_bpp) && s.setting < best->setting))
      best = &s;
  }
  CAE_CHECK(best != nullptr, Error, "nearest_rate: no sample of codec '", codec, "' on image '",
            image, "'");
  return *best;
}

}  // namespace cae::codec
