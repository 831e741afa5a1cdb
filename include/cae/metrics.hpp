// Evaluation metrics: classification accuracy and confusion matrices, and
// image-restoration quality (MSE, PSNR, SSIM, per-channel cosine similarity).
//
// Sums run in double and in a fixed order (parallel loops write one slot per
// image or plane, summed afterwards in order), so every metric is the same for
// any thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::metrics {

// ---- classification ----

namespace detail {
template <typename T>
index_t check_logits(const Tensor<T>& logits, index_t n_labels, const char* who) {
  CAE_CHECK(logits.rank() >= 2 && logits.dim(0) > 0, ShapeError, who,
            ": logits must be [N, K] with N > 0, got ", logits.shape());
  CAE_CHECK(logits.dim(0) == n_labels, ShapeError, who, ": ", logits.dim(0), " rows of logits ",
            logits.shape(), " but ", n_labels, " labels");
  return logits.numel() / logits.dim(0);
}
}  // namespace detail

// The predicted class of each row of logits [N, K] (or [N, K, 1, 1]): the
// index of the largest value, the first one on ties and NaN counting as the
// largest, as torch.argmax.
template <typename T>
std::vector<int> argmax(const Tensor<T>& logits) {
  CAE_CHECK(logits.rank() >= 2 && logits.dim(0) > 0 && logits.numel() > 0, ShapeError,
            "argmax: logits must be [N, K] with N, K > 0, got ", logits.shape());
  const index_t n = logits.dim(0), k = logits.numel() / n;
  std::vector<int> out(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const T* row = logits.data() + i * k;
    index_t best = 0;
    for (index_t j = 1; j < k && !std::isnan(row[best]); ++j)
      if (row[j] > row[best] || std::isnan(row[j])) best = j;
    out[static_cast<std::size_t>(i)] = static_cast<int>(best);
  }
  return out;
}

// Fraction in [0, 1] of rows whose argmax is the label.
template <typename T>
double accuracy(const Tensor<T>& logits, const std::vector<int>& labels) {
  detail::check_logits(logits, static_cast<index_t>(labels.size()), "accuracy");
  const std::vector<int> pred = argmax(logits);
  index_t correct = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) correct += pred[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

// targets: [N] class indices stored as floats (what CrossEntropyLoss takes).
template <typename T, typename U>
double accuracy(const Tensor<T>& logits, const Tensor<U>& targets) {
  CAE_CHECK(targets.rank() == 1, ShapeError, "accuracy: targets must be [N] class indices, got ",
            targets.shape());
  std::vector<int> labels(static_cast<std::size_t>(targets.numel()));
  for (index_t i = 0; i < targets.numel(); ++i) {
    CAE_CHECK(targets[i] >= 0 && targets[i] == std::floor(targets[i]), Error,
              "accuracy: target ", i, " is ", targets[i], ", not a class index");
    labels[static_cast<std::size_t>(i)] = static_cast<int>(targets[i]);
  }
  return accuracy(logits, labels);
}

// counts(t, p): how many samples of true class t were predicted as p.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes, std::vector<std::string> class_names = {})
      : k_(num_classes), names_(std::move(class_names)) {
    CAE_CHECK(num_classes > 0, Error, "ConfusionMatrix: num_classes must be positive, got ",
              num_classes);
    CAE_CHECK(names_.empty() || static_cast<int>(names_.size()) == k_, Error, "ConfusionMatrix: ",
              names_.size(), " class names for ", k_, " classes");
    if (names_.empty())
      for (int c = 0; c < k_; ++c) names_.push_back(std::to_string(c));
    counts_.assign(static_cast<std::size_t>(k_) * k_, 0);
  }

  void add(int truth, int predicted) {
    CAE_CHECK(truth >= 0 && truth < k_ && predicted >= 0 && predicted < k_, Error,
              "ConfusionMatrix::add: classes (", truth, ", ", predicted, ") outside [0, ", k_, ")");
    ++counts_[static_cast<std::size_t>(truth) * k_ + predicted];
  }
  template <typename T>
  void add(const Tensor<T>& logits, const std::vector<int>& labels) {
    detail::check_logits(logits, static_cast<index_t>(labels.size()), "ConfusionMatrix::add");
    const std::vector<int> pred = argmax(logits);
    for (std::size_t i = 0; i < labels.size(); ++i) add(labels[i], pred[i]);
  }

  int num_classes() const { return k_; }
  const std::vector<std::string>& class_names() const { return names_; }
  index_t count(int truth, int predicted) const {
    CAE_CHECK(truth >= 0 && truth < k_ && predicted >= 0 && predicted < k_, Error,
              "ConfusionMatrix::count: classes (", truth, ", ", predicted, ") outside [0, ", k_,
              ")");
    return counts_[static_cast<std::size_t>(truth) * k_ + predicted];
  }
  index_t total() const {
    index_t s = 0;
    for (index_t v : counts_) s += v;
    return s;
  }
  index_t correct() const {
    index_t s = 0;
    for (int c = 0; c < k_; ++c) s += count(c, c);
    return s;
  }
  // NaN when nothing was added.
  double accuracy() const { return ratio(correct(), total()); }
  // Of the samples of class c, the fraction predicted as c (NaN if there are none).
  double recall(int c) const {
    index_t row = 0;
    for (int p = 0; p < k_; ++p) row += count(c, p);
    return ratio(count(c, c), row);
  }
  // Of the samples predicted as c, the fraction that are c (NaN if there are none).
  double precision(int c) const {
    index_t col = 0;
    for (int t = 0; t < k_; ++t) col += count(t, c);
    return ratio(count(c, c), col);
  }

  // A table with true classes as rows and predictions as columns, e.g.
  //   true \ predicted |  car  cat bird | recall
  //   car              |   95    3    2 |  95.0%
  //   ...
  //   precision        | 95.0% ...
  //   accuracy 93.33% (280 of 300)
  std::string str() const {
    std::size_t name_w = std::string("true \\ predicted").size();
    for (const auto& n : names_) name_w = std::max(name_w, n.size());
    std::size_t cell_w = 6;
    for (const auto& n : names_) cell_w = std::max(cell_w, n.size());
    for (index_t v : counts_) cell_w = std::max(cell_w, std::to_string(v).size());
    auto pad_left = [](const std::string& s, std::size_t w) {
      return std::string(w > s.size() ? w - s.size() : 0, ' ') + s;
    };
    auto pad_right = [](const std::string& s, std::size_t w) {
      return s + std::string(w > s.size() ? w - s.size() : 0, ' ');
    };
    std::string out = pad_right("true \\ predicted", name_w) + " |";
    for (const auto& n : names_) out += " " + pad_left(n, cell_w);
    out += " | recall\n";
    for (int t = 0; t < k_; ++t) {
      out += pad_right(names_[static_cast<std::size_t>(t)], name_w) + " |";
      for (int p = 0; p < k_; ++p) out += " " + pad_left(std::to_string(count(t, p)), cell_w);
      out += " | " + pad_left(percent(recall(t)), 6) + "\n";
    }
    out += pad_right("precision", name_w) + " |";
    for (int p = 0; p < k_; ++p) out += " " + pad_left(percent(precision(p)), cell_w);
    out += " |\n";
    out += "accuracy " + percent(accuracy()) + " (" + std::to_string(correct()) + " of " +
           std::to_string(total()) + ")\n";
    return out;
  }

 private:
  static double ratio(index_t a, index_t b) {
    return b == 0 ? std::numeric_limits<double>::quiet_NaN()
                  : static_cast<double>(a) / static_cast<double>(b);
  }
  static std::string percent(double v) {
    if (std::isnan(v)) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * v);
    return buf;
  }

  int k_;
  std::vector<std::string> names_;
  std::vector<index_t> counts_;
};

// ---- image restoration ----

namespace detail {
template <typename T>
void check_same(const Tensor<T>& a, const Tensor<T>& b, const char* who) {
  CAE_CHECK(a.shape() == b.shape(), ShapeError, who, ": shapes ", a.shape(), " and ", b.shape(),
            " differ");
  CAE_CHECK(a.numel() > 0, ShapeError, who, ": empty tensors ", a.shape());
}
}  // namespace detail

// Mean squared error over all elements.
template <typename T>
double mse(const Tensor<T>& a, const Tensor<T>& b) {
  detail::check_same(a, b, "mse");
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  return s / static_cast<double>(a.numel());
}

// Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE), over all
// elements (skimage.metrics.peak_signal_noise_ratio); +inf for identical inputs.
template <typename T>
double psnr(const Tensor<T>& a, const Tensor<T>& b, double data_range = 1.0) {
  CAE_CHECK(data_range > 0, Error, "psnr: data_range must be positive, got ", data_range);
  const double m = mse(a, b);
  if (m == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(data_range * data_range / m);
}

// SSIM settings. Defaults are Wang et al. (2004): an 11x11 Gaussian window of
// sigma 1.5, K1 = 0.01, K2 = 0.03, data range 1.
class SsimOptions {
 public:
  SsimOptions& data_range(double v) { return set(data_range_, v, "data_range"); }
  // The window has 2 * int(3.5 * sigma + 0.5) + 1 taps per side (11 for 1.5), as skimage.
  SsimOptions& sigma(double v) { return set(sigma_, v, "sigma"); }
  SsimOptions& k1(double v) { return set(k1_, v, "k1"); }
  SsimOptions& k2(double v) { return set(k2_, v, "k2"); }
  double data_range() const { return data_range_; }
  double sigma() const { return sigma_; }
  double k1() const { return k1_; }
  double k2() const { return k2_; }
  int window_size() const { return 2 * static_cast<int>(3.5 * sigma_ + 0.5) + 1; }

 private:
  SsimOptions& set(double& field, double v, const char* name) {
    CAE_CHECK(v > 0 && std::isfinite(v), Error, "SsimOptions: ", name, " must be positive, got ",
              v);
    field = v;
    return *this;
  }
  double data_range_ = 1.0, sigma_ = 1.5, k1_ = 0.01, k2_ = 0.03;
};

namespace detail {

// Mean SSIM of two planes (h x w, row-major), over the positions where the
// whole window fits (h - win + 1 by w - win + 1).
inline double ssim_plane(const double* x, const double* y, index_t h, index_t w,
                         const std::vector<double>& g, double c1, double c2) {
  const index_t win = static_cast<index_t>(g.size());
  const index_t ow = w - win + 1, oh = h - win + 1;
  // Horizontal pass over every row for x, y, xx, yy, xy.
  std::vector<double> hx(h * ow), hy(h * ow), hxx(h * ow), hyy(h * ow), hxy(h * ow);
  for (index_t i = 0; i < h; ++i)
    for (index_t j = 0; j < ow; ++j) {
      double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      const double* px = x + i * w + j;
      const double* py = y + i * w + j;
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
  double total = 0;
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
      total += ((2 * mx * my + c1) * (2 * cxy + c2)) /
               ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
  return total / static_cast<double>(oh * ow);
}

}  // namespace detail

// Structural similarity, one value per image: the mean over channels of the
// mean SSIM map. The convention is Wang et al.'s and equals
//   skimage.metrics.structural_similarity(a, b, data_range=1.0, channel_axis=0,
//       gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
// i.e. local statistics from a normalized 11x11 Gaussian window (population
// variances, no N/(N-1)), C1 = (K1 L)^2, C2 = (K2 L)^2, averaged over the
// positions where the window lies inside the image (skimage filters with
// reflected borders and then crops (win - 1) / 2 pixels, which leaves exactly
// these positions). a, b: [H, W], [C, H, W] or [N, C, H, W], H and W >= 11.
template <typename T>
std::vector<double> ssim_per_image(const Tensor<T>& a, const Tensor<T>& b,
                                   const SsimOptions& opt = {}) {
  detail::check_same(a, b, "ssim");
  CAE_CHECK(a.rank() >= 2 && a.rank() <= 4, ShapeError,
            "ssim: needs [H, W], [C, H, W] or [N, C, H, W], got ", a.shape());
  const index_t h = a.dim(-2), w = a.dim(-1);
  const index_t n = a.rank() == 4 ? a.dim(0) : 1;
  const index_t c = a.numel() / (n * h * w);
  const int win = opt.window_size();
  CAE_CHECK(h >= win && w >= win, ShapeError, "ssim: images ", a.shape(), " are smaller than the ",
            win, "x", win, " window");
  std::vector<double> g(static_cast<std::size_t>(win));
  const int r = win / 2;
  double gs = 0;
  for (int t = 0; t < win; ++t) gs += g[t] = std::exp(-0.5 * (t - r) * (t - r) / (opt.sigma() * opt.sigma()));
  for (double& v : g) v /= gs;
  const double c1 = std::pow(opt.k1() * opt.data_range(), 2);
  const double c2 = std::pow(opt.k2() * opt.data_range(), 2);
  std::vector<double> plane_ssim(static_cast<std::size_t>(n * c));
#pragma omp parallel for schedule(dynamic)
  for (index_t p = 0; p < n * c; ++p) {
    std::vector<double> x(h * w), y(h * w);
    for (index_t i = 0; i < h * w; ++i) x[i] = a[p * h * w + i], y[i] = b[p * h * w + i];
    plane_ssim[static_cast<std::size_t>(p)] = detail::ssim_plane(x.data(), y.data(), h, w, g, c1, c2);
  }
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  for (index_t i = 0; i < n; ++i) {
    for (index_t k = 0; k < c; ++k) out[i] += plane_ssim[static_cast<std::size_t>(i * c + k)];
    out[i] /= static_cast<double>(c);
  }
  return out;
}

// Mean SSIM over the images of a batch (or of one image).
template <typename T>
double ssim(const Tensor<T>& a, const Tensor<T>& b, const SsimOptions& opt = {}) {
  const std::vector<double> v = ssim_per_image(a, b, opt);
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// The per-channel similarity of Myojin & Hoshino's Equation 3:
//   similarity_c = <input_c, restored_c> / (|input_c| |restored_c|),
// the cosine between channel c of the input image and of the restored image,
// each flattened to a vector of H*W values. per_channel[c] is its mean over the
// images ("Average Red Similarity", ...) and overall the mean of those ("RGB
// Similarity": their Table 6 has 0.817, 0.799, 0.810 -> 0.809). A channel that
// is all zero in both images counts as similarity 1, in one image only as 0.
struct ChannelSimilarity {
  std::vector<double> per_channel;
  double overall = 0;
  index_t images = 0;

  // "red 0.8170  green 0.7990  blue 0.8100  RGB 0.8087" for three channels,
  // "channel 0 ... mean ..." otherwise.
  std::string str() const {
    const bool rgb = per_channel.size() == 3;
    const char* names[] = {"red", "green", "blue"};
    std::string s;
    char buf[64];
    for (std::size_t c = 0; c < per_channel.size(); ++c) {
      if (rgb)
        std::snprintf(buf, sizeof buf, "%s %.4f  ", names[c], per_channel[c]);
      else
        std::snprintf(buf, sizeof buf, "channel %zu %.4f  ", c, per_channel[c]);
      s += buf;
    }
    std::snprintf(buf, sizeof buf, "%s %.4f", rgb ? "RGB" : "mean", overall);
    return s + buf;
  }
};

// Accumulates Equation 3 over batches, for datasets too large to hold at once.
class ChannelSimilarityMeter {
 public:
  // input, restored: [N, C, H, W] or one image [C, H, W].
  template <typename T>
  void add(const Tensor<T>& input, const Tensor<T>& restored) {
    detail::check_same(input, restored, "channel_cosine_similarity");
    CAE_CHECK(input.rank() == 3 || input.rank() == 4, ShapeError,
              "channel_cosine_similarity: needs [C, H, W] or [N, C, H, W], got ", input.shape());
    const index_t n = input.rank() == 4 ? input.dim(0) : 1, c = input.dim(-3);
    const index_t plane = input.dim(-2) * input.dim(-1);
    CAE_CHECK(sums_.empty() || static_cast<index_t>(sums_.size()) == c, ShapeError,
              "channel_cosine_similarity: ", c, " channels after batches of ", sums_.size());
    if (sums_.empty()) sums_.assign(static_cast<std::size_t>(c), 0.0);
    std::vector<double> cos(static_cast<std::size_t>(n * c));
#pragma omp parallel for schedule(static) if (input.numel() > 65536)
    for (index_t p = 0; p < n * c; ++p) {
      const T* x = input.data() + p * plane;
      const T* y = restored.data() + p * plane;
      double dot = 0, xx = 0, yy = 0;
      for (index_t j = 0; j < plane; ++j) {
        const double a = x[j], b = y[j];
        dot += a * b;
        xx += a * a;
        yy += b * b;
      }
      double v;
      if (xx == 0 && yy == 0)
        v = 1.0;
      else if (xx == 0 || yy == 0)
        v = 0.0;
      else
        v = std::max(-1.0, std::min(1.0, dot / std::sqrt(xx * yy)));  // exactly 1 for equal channels
      cos[static_cast<std::size_t>(p)] = v;
    }
    for (index_t p = 0; p < n * c; ++p) sums_[static_cast<std::size_t>(p % c)] += cos[p];
    images_ += n;
  }

  ChannelSimilarity result() const {
    CAE_CHECK(images_ > 0, Error, "ChannelSimilarityMeter: no images added");
    ChannelSimilarity r;
    r.images = images_;
    for (double s : sums_) r.per_channel.push_back(s / static_cast<double>(images_));
    for (double v : r.per_channel) r.overall += v;
    r.overall /= static_cast<double>(r.per_channel.size());
    return r;
  }
  void reset() {
    sums_.clear();
    images_ = 0;
  }

 private:
  std::vector<double> sums_;
  index_t images_ = 0;
};

template <typename T>
ChannelSimilarity channel_cosine_similarity(const Tensor<T>& input, const Tensor<T>& restored) {
  ChannelSimilarityMeter m;
  m.add(input, restored);
  return m.result();
}

}  // namespace cae::metrics
