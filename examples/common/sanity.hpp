// The quick modes' sanity checks, in one place: each is a result that a
// collapsed model cannot reach, so that a --quick run that "trains" into a
// constant or the mean image fails instead of passing.
//
//   - reconstruction: MSE below a named fraction of the mean image's MSE on the
//     same targets. The mean image is the best output that ignores the input,
//     and its MSE is the per-pixel variance of the targets (averaged over
//     pixels), so a fraction of 1 is exactly what collapse scores.
//   - classification: accuracy above the majority-class share of the labels
//     (what a constant prediction scores) by a named margin.
//   - denoising: MSE below a fraction of the noisy input's MSE (passing the
//     input through scores 1) and below the mean image's.
//
// tests/test_sanity_checks.cpp feeds each check a collapsed model's output and
// sees it fail.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "cae/error.hpp"
#include "cae/tensor.hpp"

namespace repro::checks {

struct Check {
  bool ok = false;
  std::string what;  // the claim with the measured numbers, printed either way
};

// The mean over images of `targets` [N, ...], one value per pixel.
inline std::vector<double> mean_image(const cae::Tensor<float>& targets) {
  CAE_CHECK(targets.rank() >= 2 && targets.dim(0) > 0, cae::ShapeError,
            "mean_image: expected [N, ...] with N > 0, got ", targets.shape());
  const cae::index_t n = targets.dim(0), pixels = targets.numel() / n;
  std::vector<double> mean(static_cast<std::size_t>(pixels), 0.0);
  for (cae::index_t i = 0; i < n; ++i)
    for (cae::index_t p = 0; p < pixels; ++p) mean[static_cast<std::size_t>(p)] += targets.data()[i * pixels + p];
  for (double& m : mean) m /= static_cast<double>(n);
  return mean;
}

// The MSE of predicting the mean image for every target [N, ...]: the
// per-pixel variance of the targets, averaged over pixels.
inline double mean_image_mse(const cae::Tensor<float>& targets) {
  const std::vector<double> mean = mean_image(targets);
  const cae::index_t n = targets.dim(0), pixels = targets.numel() / n;
  double sum = 0;
  for (cae::index_t i = 0; i < n; ++i)
    for (cae::index_t p = 0; p < pixels; ++p) {
      const double d = targets.data()[i * pixels + p] - mean[static_cast<std::size_t>(p)];
      sum += d * d;
    }
  return sum / static_cast<double>(targets.numel());
}

// A collapsed autoencoder's output: the mean image of `targets`, once per target.
inline cae::Tensor<float> mean_image_output(const cae::Tensor<float>& targets) {
  const std::vector<double> mean = mean_image(targets);
  cae::Tensor<float> out(targets.shape());
  const cae::index_t n = targets.dim(0), pixels = targets.numel() / n;
  for (cae::index_t i = 0; i < n; ++i)
    for (cae::index_t p = 0; p < pixels; ++p) out.data()[i * pixels + p] = static_cast<float>(mean[static_cast<std::size_t>(p)]);
  return out;
}

// The share of the most frequent label: the accuracy of a constant prediction.
inline double majority_share(const std::vector<int>& labels) {
  CAE_CHECK(!labels.empty(), cae::Error, "majority_share: no labels");
  const int top = *std::max_element(labels.begin(), labels.end());
  CAE_CHECK(*std::min_element(labels.begin(), labels.end()) >= 0, cae::Error, "majority_share: negative label");
  std::vector<std::size_t> count(static_cast<std::size_t>(top) + 1, 0);
  for (int l : labels) ++count[static_cast<std::size_t>(l)];
  return static_cast<double>(*std::max_element(count.begin(), count.end())) / static_cast<double>(labels.size());
}

template <typename... Numbers>
std::string format(const char* fmt, Numbers... numbers) {
  char buf[200];
  std::snprintf(buf, sizeof buf, fmt, static_cast<double>(numbers)...);
  return buf;
}

// Reconstruction MSE `mse` of outputs against `targets` below `fraction` x the
// mean image's MSE on the same targets.
inline Check reconstruction_beats_mean_image(const std::string& name, double mse, const cae::Tensor<float>& targets,
                                             double fraction) {
  const double collapse = mean_image_mse(targets);
  return {mse < fraction * collapse,
          name + format(": MSE %.5f < %.2f x the mean image's %.5f", mse, fraction, collapse)};
}

// Accuracy in [0, 1] above the majority-class share of `labels` plus `margin`.
inline Check accuracy_above_chance(const std::string& name, double accuracy, const std::vector<int>& labels,
                                   double margin) {
  const double constant = majority_share(labels);
  return {accuracy > constant + margin,
          name + format(": accuracy %.3f > constant prediction's %.3f + %.2f", accuracy, constant, margin)};
}

// Denoised MSE below `fraction` x the noisy input's MSE (both against the
// clean `targets`) and below `fraction` x the mean image's MSE.
inline Check denoising_beats_input_and_mean(const std::string& name, double denoised_mse, double noisy_mse,
                                            const cae::Tensor<float>& targets, double fraction) {
  const double collapse = mean_image_mse(targets);
  const double bound = fraction * std::min(noisy_mse, collapse);
  return {denoised_mse < bound,
          name + format(": MSE %.5f < %.2f x min(noisy input's %.5f, mean image's %.5f)", denoised_mse, fraction,
                        noisy_mse, collapse)};
}

// Prints the check and exits with status 3 when it failed, so CTest notices.
inline void require(const Check& c) {
  std::printf("sanity check: %-90s %s\n", c.what.c_str(), c.ok ? "ok" : "FAILED");
  if (!c.ok) {
    std::fflush(stdout);
    std::exit(3);
  }
}

}  // namespace repro::checks
