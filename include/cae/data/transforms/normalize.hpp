// Per-channel normalization, (x - mean[c]) / std[c], as torchvision's
// transforms.Normalize, its inverse, and the statistics to feed it.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "cae/data/transforms/image_layout.hpp"
#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

namespace detail {
inline std::string vec_str(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + str(v[i]);
  return s + "]";
}
}  // namespace detail

class Normalize {
 public:
  // One mean and std per channel; a single value applies to every channel.
  Normalize(std::vector<double> mean, std::vector<double> std)
      : mean_(std::move(mean)), std_(std::move(std)) {
    CAE_CHECK(!mean_.empty() && mean_.size() == std_.size(), ShapeError, describe(),
              ": mean and std need the same, non-zero, number of channels");
    for (double s : std_)
      CAE_CHECK(s > 0 && std::isfinite(s), Error, describe(), ": std must be positive, got ", s);
  }

  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }

  // x = (x - mean) / std, in place, on [C, H, W] or [N, C, H, W].
  template <typename T>
  void apply(Tensor<T>& x) const {
    transform(x, [](T v, T m, T s) { return (v - m) / s; });
  }
  // x = x * std + mean, in place: back to the original scale (e.g. for saving images).
  template <typename T>
  void invert(Tensor<T>& x) const {
    transform(x, [](T v, T m, T s) { return v * s + m; });
  }
  template <typename T>
  Tensor<T> operator()(const Tensor<T>& x) const {
    Tensor<T> y = x;
    apply(y);
    return y;
  }

  std::string describe() const {
    return "Normalize(mean=" + detail::vec_str(mean_) + ", std=" + detail::vec_str(std_) + ")";
  }

 private:
  template <typename T, typename F>
  void transform(Tensor<T>& x, F f) const {
    const detail::ImageLayout L = detail::image_layout(x, "Normalize");
    const index_t n = L.images, c = L.channels, plane = L.plane();
    CAE_CHECK(mean_.size() == 1 || static_cast<index_t>(mean_.size()) == c, ShapeError,
              describe(), ": ", mean_.size(), " channels configured, input ", x.shape(), " has ",
              c);
    T* p = x.data();
#pragma omp parallel for schedule(static) if (x.numel() > 65536)
    for (index_t i = 0; i < n * c; ++i) {
      const std::size_t k = mean_.size() == 1 ? 0 : static_cast<std::size_t>(i % c);
      const T m = static_cast<T>(mean_[k]), s = static_cast<T>(std_[k]);
      T* q = p + i * plane;
      for (index_t j = 0; j < plane; ++j) q[j] = f(q[j], m, s);
    }
  }

  std::vector<double> mean_, std_;
};

// Per-channel mean and (population) standard deviation of a dataset
// [N, C, H, W] or image [C, H, W], for building a Normalize. Sums run in double,
// one channel per thread, in a fixed order.
template <typename T>
std::pair<std::vector<double>, std::vector<double>> channel_mean_std(const Tensor<T>& x) {
  const detail::ImageLayout L = detail::image_layout(x, "channel_mean_std");
  const index_t n = L.images, c = L.channels, plane = L.plane();
  CAE_CHECK(n * plane > 0, ShapeError, "channel_mean_std: empty input ", x.shape());
  std::vector<double> mean(c), stdev(c);
  const T* p = x.data();
#pragma omp parallel for schedule(static) if (x.numel() > 65536)
  for (index_t k = 0; k < c; ++k) {
    double sum = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < plane; ++j) sum += p[(i * c + k) * plane + j];
    const double m = sum / static_cast<double>(n * plane);
    double sq = 0;  // second pass: no cancellation when the mean is large
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < plane; ++j) {
        const double d = p[(i * c + k) * plane + j] - m;
        sq += d * d;
      }
    mean[k] = m;
    stdev[k] = std::sqrt(sq / static_cast<double>(n * plane));
  }
  return {mean, stdev};
}

}  // namespace cae::data
