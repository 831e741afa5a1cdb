// Rate-distortion metrics of image codecs: bits per pixel, PSNR and MS-SSIM on
// 8-bit images, and the Bjontegaard delta rate (BD-rate) between two RD curves.
//
// Conventions are those of the CompressAI evaluation, so numbers compare with
// published learned-compression results: PSNR over all channels together on
// 8-bit values, MS-SSIM as pytorch-msssim computes it (checked against a torch
// implementation, tests/fixturegen/gen_msssim.py), BD-rate from cubic fits of
// log-rate against PSNR (Bjontegaard, VCEG-M33).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::codec {

// Bits per pixel of a compressed file of `bytes` bytes for a width x height
// image (pixels, not samples: an RGB pixel counts once).
inline double bits_per_pixel(std::size_t bytes, index_t width, index_t height) {
  CAE_CHECK(width > 0 && height > 0, Error, "bits_per_pixel: image size ", width, "x", height,
            " must be positive");
  return 8.0 * static_cast<double>(bytes) / (static_cast<double>(width) * static_cast<double>(height));
}

// The 8-bit level 0..255 of a value in [0, 1]: clamped, NaN as 0, rounded to
// nearest as io::save_png writes it.
inline int to_8bit_level(double v) {
  const double c = std::min(1.0, std::max(0.0, std::isfinite(v) ? v : 0.0));
  return static_cast<int>(std::lround(c * 255.0));
}

// The image as an 8-bit file would hold it: every value v becomes level / 255.
template <typename T>
Tensor<T> quantize_8bit(const Tensor<T>& image) {
  Tensor<T> out = image;
  for (T& v : out) v = static_cast<T>(to_8bit_level(v) / 255.0);
  return out;
}

namespace rd_detail {
template <typename T>
void check_pair(const Tensor<T>& a, const Tensor<T>& b, const char* who) {
  CAE_CHECK(a.shape() == b.shape(), ShapeError, who, ": shapes ", a.shape(), " and ", b.shape(),
            " differ");
  CAE_CHECK((a.rank() == 2 || a.rank() == 3) && a.numel() > 0, ShapeError, who,
            ": needs one image [C, H, W] or [H, W], got ", a.shape());
}
}  // namespace rd_detail

// PSNR in dB of two images [C, H, W] (or [H, W]) with values in [0, 1], both
// first rounded to 8-bit levels: 10 log10(255^2 / MSE) with the MSE over all
// channels and pixels together. +inf when the 8-bit images are equal.
template <typename T>
double psnr_8bit(const Tensor<T>& reference, const Tensor<T>& decoded) {
  rd_detail::check_pair(reference, decoded, "psnr_8bit");
  double se = 0;
  for (index_t i = 0; i < reference.numel(); ++i) {
    const double d = to_8bit_level(reference[i]) - to_8bit_level(decoded[i]);
    se += d * d;
  }
  if (se == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 * static_cast<double>(reference.numel()) / se);
}

// MS-SSIM settings: Wang, Simoncelli and Bovik (2003), pytorch-msssim's defaults.
struct MsSsimOptions {
  double data_range = 1.0;
  int window_size = 11;
  double sigma = 1.5;
  double k1 = 0.01, k2 = 0.03;
  std::vector<double> weights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
};

namespace rd_detail {

// The means of the SSIM map and of the contrast-structure map of one plane
// (h x w, row-major) over the positions where the window fits ("valid").
inline std::array<double, 2> ssim_and_cs(const std::vector<double>& x, const std::vector<double>& y,
                                         index_t h, index_t w, const std::vector<double>& g,
                                         double c1, double c2) {
  const index_t win = static_cast<index_t>(g.size());
  const index_t ow = w - win + 1, oh = h - win + 1;
  // Horizontal pass over every row for x, y, xx, yy, xy, then the vertical one.
  std::vector<double> hx(h * ow), hy(h * ow), hxx(h * ow), hyy(h * ow), hxy(h * ow);
  for (index_t i = 0; i < h; ++i)
    for (index_t j = 0; j < ow; ++j) {
      double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      const double* px = x.data() + i * w + j;
      const double* py = y.data() + i * w + j;
      for (index_t t = 0; t < win; ++t) {
        const double a = px[t], b = py[t], gt = g[t];
        sx += gt * a;
        sy += gt * b;
        sxx += gt * a * a;
        syy += gt * b * b;
        sxy += gt * a * b;
      }
      const index_t o = i * ow + j;
      hx[o] = sx, hy[o] = sy, hxx[o] = sxx, hyy[o] = syy, hxy[o] = sxy;
    }
  double ssim_sum = 0, cs_sum = 0;
  for (index_t i = 0; i < oh; ++i)
    for (index_t j = 0; j < ow; ++j) {
      double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
      for (index_t t = 0; t < win; ++t) {
        const index_t o = (i + t) * ow + j;
        const double gt = g[t];
        mx += gt * hx[o];
        my += gt * hy[o];
        mxx += gt * hxx[o];
        myy += gt * hyy[o];
        mxy += gt * hxy[o];
      }
      const double vx = mxx - mx * mx, vy = myy - my * my, cxy = mxy - mx * my;
      const double cs = (2 * cxy + c2) / (vx + vy + c2);
      cs_sum += cs;
      ssim_sum += (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs;
    }
  const double n = static_cast<double>(oh * ow);
  return {ssim_sum / n, cs_sum / n};
}

// 2x2 average pooling with stride 2 and zero padding (h % 2, w % 2) on each
// side, the padding counted in the average (torch's avg_pool2d defaults).
inline std::vector<double> halve(const std::vector<double>& x, index_t h, index_t w, index_t& oh,
                                 index_t& ow) {
  const index_t ph = h % 2, pw = w % 2;
  oh = (h + 2 * ph - 2) / 2 + 1;
  ow = (w + 2 * pw - 2) / 2 + 1;
  std::vector<double> out(static_cast<std::size_t>(oh * ow));
  for (index_t i = 0; i < oh; ++i)
    for (index_t j = 0; j < ow; ++j) {
      double s = 0;
      for (index_t di = 0; di < 2; ++di)
        for (index_t dj = 0; dj < 2; ++dj) {
          const index_t r = 2 * i - ph + di, c = 2 * j - pw + dj;
          if (r >= 0 && r < h && c >= 0 && c < w) s += x[static_cast<std::size_t>(r * w + c)];
        }
      out[static_cast<std::size_t>(i * ow + j)] = s / 4.0;
    }
  return out;
}

}  // namespace rd_detail

// MS-SSIM of each channel of two images [C, H, W] (or [H, W]): at each of the
// len(weights) scales the valid-window SSIM statistics, the contrast-structure
// mean of every scale but the last and the SSIM mean of the last, each clamped
// at 0, raised to its weight and multiplied; the image is halved between
// scales. Both sides must exceed (window - 1) * 2^(scales - 1) pixels (160
// with the defaults), as pytorch-msssim requires.
template <typename T>
std::vector<double> ms_ssim_per_channel(const Tensor<T>& a, const Tensor<T>& b,
                                        const MsSsimOptions& opt = {}) {
  rd_detail::check_pair(a, b, "ms_ssim");
  CAE_CHECK(opt.window_size >= 1 && opt.window_size % 2 == 1 && opt.sigma > 0 &&
                !opt.weights.empty() && opt.weights.size() <= 8 && opt.data_range > 0,
            Error, "ms_ssim: the window must be odd and positive, sigma and data_range positive, "
                   "and 1 to 8 weights");
  const index_t h = a.dim(-2), w = a.dim(-1), c = a.numel() / (h * w);
  const index_t scales = static_cast<index_t>(opt.weights.size());
  const index_t need = (opt.window_size - 1) * (index_t{1} << (scales - 1));
  CAE_CHECK(std::min(h, w) > need, ShapeError, "ms_ssim: images ", a.shape(),
            " are too small: both sides must exceed ", need, " pixels for ", scales,
            " scales of an ", opt.window_size, "-pixel window");
  std::vector<double> g(static_cast<std::size_t>(opt.window_size));
  double gs = 0;
  for (int t = 0; t < opt.window_size; ++t) {
    const double d = t - opt.window_size / 2;
    gs += g[t] = std::exp(-d * d / (2 * opt.sigma * opt.sigma));
  }
  for (double& v : g) v /= gs;
  const double c1 = std::pow(opt.k1 * opt.data_range, 2), c2 = std::pow(opt.k2 * opt.data_range, 2);
  std::vector<double> out(static_cast<std::size_t>(c));
  for (index_t k = 0; k < c; ++k) {
    std::vector<double> x(static_cast<std::size_t>(h * w)), y(x.size());
    for (index_t i = 0; i < h * w; ++i) x[i] = a[k * h * w + i], y[i] = b[k * h * w + i];
    index_t sh = h, sw = w;
    double value = 1;
    for (index_t s = 0; s < scales; ++s) {
      const auto [ssim, cs] = rd_detail::ssim_and_cs(x, y, sh, sw, g, c1, c2);
      const bool last = s == scales - 1;
      value *= std::pow(std::max(0.0, last ? ssim : cs), opt.weights[static_cast<std::size_t>(s)]);
      if (!last) {
        index_t nh = 0, nw = 0;
        x = rd_detail::halve(x, sh, sw, nh, nw);
        y = rd_detail::halve(y, sh, sw, nh, nw);
        sh = nh, sw = nw;
      }
    }
    out[static_cast<std::size_t>(k)] = value;
  }
  return out;
}

// The mean over channels of ms_ssim_per_channel (pytorch-msssim's ms_ssim of one image).
template <typename T>
double ms_ssim(const Tensor<T>& a, const Tensor<T>& b, const MsSsimOptions& opt = {}) {
  const std::vector<double> v = ms_ssim_per_channel(a, b, opt);
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// MS-SSIM of two images with values in [0, 1], both first rounded to 8-bit
// levels, computed on the levels with data range 255 (CompressAI's codec
// benchmarks do the same).
template <typename T>
double ms_ssim_8bit(const Tensor<T>& reference, const Tensor<T>& decoded) {
  rd_detail::check_pair(reference, decoded, "ms_ssim_8bit");
  Tensor<double> a(reference.shape()), b(decoded.shape());
  for (index_t i = 0; i < a.numel(); ++i)
    a[i] = to_8bit_level(reference[i]), b[i] = to_8bit_level(decoded[i]);
  MsSsimOptions opt;
  opt.data_range = 255.0;
  return ms_ssim(a, b, opt);
}

// MS-SSIM in decibels, -10 log10(1 - MS-SSIM), as RD plots often show it.
inline double ms_ssim_db(double ms_ssim_value) { return -10.0 * std::log10(1.0 - ms_ssim_value); }

// ---- Bjontegaard delta ----

// One point of a rate-distortion curve: rate (bits per pixel, or any positive
// unit used by both curves) and quality (PSNR in dB, or MS-SSIM in dB).
struct RdPoint {
  double rate = 0;
  double quality = 0;
};

namespace rd_detail {

// Least-squares polynomial of degree 3 through (x, y), in the variable
// t = (x - centre) / scale, which keeps the fit well conditioned.
struct Cubic {
  double centre = 0, scale = 1;
  std::array<double, 4> coef{};  // coef[k] multiplies t^k

  // The integral of the polynomial over x in [lo, hi].
  double integral(double lo, double hi) const {
    auto antiderivative = [&](double x) {
      const double t = (x - centre) / scale;
      double s = 0, p = t;
      for (int k = 0; k < 4; ++k, p *= t) s += coef[static_cast<std::size_t>(k)] * p / (k + 1);
      return s * scale;
    };
    return antiderivative(hi) - antiderivative(lo);
  }
};

inline Cubic fit_cubic(const std::vector<double>& x, const std::vector<double>& y) {
  Cubic c;
  const double lo = *std::min_element(x.begin(), x.end());
  const double hi = *std::max_element(x.begin(), x.end());
  c.centre = (lo + hi) / 2;
  c.scale = (hi - lo) / 2;
  Eigen::MatrixXd v(static_cast<Eigen::Index>(x.size()), 4);
  Eigen::VectorXd rhs(static_cast<Eigen::Index>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double t = (x[i] - c.centre) / c.scale;
    const auto r = static_cast<Eigen::Index>(i);
    v(r, 0) = 1, v(r, 1) = t, v(r, 2) = t * t, v(r, 3) = t * t * t;
    rhs(r) = y[i];
  }
  const Eigen::VectorXd sol = v.colPivHouseholderQr().solve(rhs);
  for (int k = 0; k < 4; ++k) c.coef[static_cast<std::size_t>(k)] = sol(k);
  return c;
}

inline void check_curve(const std::vector<RdPoint>& curve, const char* which, const char* who) {
  CAE_CHECK(curve.size() >= 4, Error, who, ": the ", which, " curve has ", curve.size(),
            " points; a cubic fit needs at least 4");
  std::vector<double> q, r;
  for (const RdPoint& p : curve) {
    CAE_CHECK(p.rate > 0 && std::isfinite(p.rate) && std::isfinite(p.quality), Error, who, ": the ",
              which, " curve has the point (rate ", p.rate, ", quality ", p.quality,
              "); rates must be positive and both finite");
    q.push_back(p.quality);
    r.push_back(p.rate);
  }
  std::sort(q.begin(), q.end());
  std::sort(r.begin(), r.end());
  CAE_CHECK(std::unique(q.begin(), q.end()) - q.begin() >= 4 &&
                std::unique(r.begin(), r.end()) - r.begin() >= 4,
            Error, who, ": the ", which, " curve needs at least 4 distinct rates and qualities");
}

// The mean over the overlapping x range of (fit of test) - (fit of anchor),
// x and y being quality and log-rate (BD-rate) or log-rate and quality (BD-PSNR).
inline double mean_gap(const std::vector<double>& xa, const std::vector<double>& ya,
                       const std::vector<double>& xt, const std::vector<double>& yt, const char* who) {
  const double lo = std::max(*std::min_element(xa.begin(), xa.end()), *std::min_element(xt.begin(), xt.end()));
  const double hi = std::min(*std::max_element(xa.begin(), xa.end()), *std::max_element(xt.begin(), xt.end()));
  CAE_CHECK(hi > lo, Error, who, ": the two curves do not overlap (common range [", lo, ", ", hi, "])");
  return (fit_cubic(xt, yt).integral(lo, hi) - fit_cubic(xa, ya).integral(lo, hi)) / (hi - lo);
}

}  // namespace rd_detail

// Bjontegaard delta rate in percent: the average rate difference of `test`
// against `anchor` at equal quality, over the quality range both cover.
// Negative: test needs fewer bits. The natural log of each rate is fitted as a
// cubic polynomial of quality (least squares), both fits are integrated over
// the common quality range, and the mean difference d gives 100 (e^d - 1).
inline double bd_rate(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test) {
  rd_detail::check_curve(anchor, "anchor", "bd_rate");
  rd_detail::check_curve(test, "test", "bd_rate");
  std::vector<double> qa, la, qt, lt;
  for (const RdPoint& p : anchor) qa.push_back(p.quality), la.push_back(std::log(p.rate));
  for (const RdPoint& p : test) qt.push_back(p.quality), lt.push_back(std::log(p.rate));
  return 100.0 * (std::exp(rd_detail::mean_gap(qa, la, qt, lt, "bd_rate")) - 1.0);
}

// Bjontegaard delta quality (BD-PSNR for PSNR curves): the average quality
// difference of `test` against `anchor` at equal rate, over the common
// log-rate range, from cubic fits of quality against log-rate.
inline double bd_quality(const std::vector<RdPoint>& anchor, const std::vector<RdPoint>& test) {
  rd_detail::check_curve(anchor, "anchor", "bd_quality");
  rd_detail::check_curve(test, "test", "bd_quality");
  std::vector<double> qa, la, qt, lt;
  for (const RdPoint& p : anchor) qa.push_back(p.quality), la.push_back(std::log(p.rate));
  for (const RdPoint& p : test) qt.push_back(p.quality), lt.push_back(std::log(p.rate));
  return rd_detail::mean_gap(la, qa, lt, qt, "bd_quality");
}

}  // namespace cae::codec
