// The examples' --quick sanity checks (examples/common/sanity.hpp) must fail
// for a collapsed model: the mean image, a constant output, a constant class,
// a denoiser that passes its noisy input through.
#include <catch2/catch.hpp>

#include <vector>

#include "../examples/common/sanity.hpp"
#include "cae/random.hpp"

using namespace cae;
using namespace repro::checks;

namespace {

// [n, 1, 8, 8] images: a bright square whose position and brightness vary, so
// the per-pixel variance is far from zero.
Tensor<float> varied_images(index_t n, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<float> t({n, 1, 8, 8}, 0.f);
  for (index_t i = 0; i < n; ++i) {
    const index_t y0 = static_cast<index_t>(rng.uniform() * 5), x0 = static_cast<index_t>(rng.uniform() * 5);
    const float v = 0.3f + 0.7f * static_cast<float>(rng.uniform());
    for (index_t y = y0; y < y0 + 3; ++y)
      for (index_t x = x0; x < x0 + 3; ++x) t.data()[i * 64 + y * 8 + x] = v;
  }
  return t;
}

double mse(const Tensor<float>& a, const Tensor<float>& b) {
  double s = 0;
  for (index_t i = 0; i < a.numel(); ++i) s += (a.data()[i] - b.data()[i]) * (a.data()[i] - b.data()[i]);
  return s / static_cast<double>(a.numel());
}

}  // namespace

TEST_CASE("mean_image_mse is the per-pixel variance of the targets", "[sanity]") {
  Tensor<float> t({2, 1, 1, 2});
  t.data()[0] = 0.f, t.data()[1] = 1.f;  // image 0
  t.data()[2] = 1.f, t.data()[3] = 1.f;  // image 1
  // pixel 0: values 0 and 1, variance 0.25; pixel 1: constant, variance 0.
  CHECK(mean_image_mse(t) == Approx(0.125));
  const Tensor<float> mean = mean_image_output(t);
  CHECK(mean.data()[0] == Approx(0.5));
  CHECK(mean.data()[2] == Approx(0.5));
  CHECK(mse(t, mean) == Approx(mean_image_mse(t)));
}

TEST_CASE("the reconstruction check fails for the mean image and for a constant output", "[sanity]") {
  const Tensor<float> targets = varied_images(200, 1);
  const double variance = mean_image_mse(targets);
  REQUIRE(variance > 0.01);

  const Tensor<float> collapsed = mean_image_output(targets);
  CHECK_FALSE(reconstruction_beats_mean_image("mean image", mse(targets, collapsed), targets, 0.5).ok);
  CHECK_FALSE(reconstruction_beats_mean_image("mean image", mse(targets, collapsed), targets, 0.99).ok);
  const Tensor<float> grey(targets.shape(), 0.5f);
  CHECK_FALSE(reconstruction_beats_mean_image("constant grey", mse(targets, grey), targets, 0.5).ok);
  const Tensor<float> black(targets.shape(), 0.f);
  CHECK_FALSE(reconstruction_beats_mean_image("constant black", mse(targets, black), targets, 0.5).ok);

  // A model that learned something: the targets plus a little error.
  Tensor<float> good = targets;
  for (index_t i = 0; i < good.numel(); i += 7) good.data()[i] += 0.05f;
  CHECK(reconstruction_beats_mean_image("near copy", mse(targets, good), targets, 0.5).ok);
}

TEST_CASE("the accuracy check fails for a constant class", "[sanity]") {
  std::vector<int> labels;
  for (int i = 0; i < 1000; ++i) labels.push_back(i % 10);
  labels.resize(1100, 3);  // class 3 is the most frequent: 200 of 1,100
  CHECK(majority_share(labels) == Approx(200.0 / 1100));
  // Predicting class 3 everywhere scores the majority share.
  std::size_t right = 0;
  for (int l : labels) right += l == 3;
  const double constant_accuracy = static_cast<double>(right) / static_cast<double>(labels.size());
  CHECK_FALSE(accuracy_above_chance("constant class", constant_accuracy, labels, 0.1).ok);
  CHECK_FALSE(accuracy_above_chance("chance + a little", constant_accuracy + 0.05, labels, 0.1).ok);
  CHECK(accuracy_above_chance("learned", 0.6, labels, 0.1).ok);
}

TEST_CASE("the denoising check fails for passing the noisy input through and for the mean image", "[sanity]") {
  const Tensor<float> clean = varied_images(200, 2);
  Rng rng(3);
  Tensor<float> noisy = clean;
  for (index_t i = 0; i < noisy.numel(); ++i) noisy.data()[i] += 0.2f * static_cast<float>(rng.normal());
  const double noisy_mse = mse(clean, noisy);

  // The identity: the output is the noisy input.
  CHECK_FALSE(denoising_beats_input_and_mean("identity", noisy_mse, noisy_mse, clean, 0.8).ok);
  // The mean image, whichever of the two is lower.
  const double collapsed = mse(clean, mean_image_output(clean));
  CHECK_FALSE(denoising_beats_input_and_mean("mean image", collapsed, noisy_mse, clean, 0.8).ok);
  // Halfway between noisy and clean is a real improvement.
  Tensor<float> half = noisy;
  for (index_t i = 0; i < half.numel(); ++i) half.data()[i] = 0.5f * (noisy.data()[i] + clean.data()[i]);
  const double half_mse = mse(clean, half);
  CHECK(half_mse < 0.3 * noisy_mse);
  REQUIRE(half_mse < 0.8 * collapsed);
  CHECK(denoising_beats_input_and_mean("halfway", half_mse, noisy_mse, clean, 0.8).ok);
}

TEST_CASE("the checks name the quantity and both numbers", "[sanity]") {
  const Tensor<float> targets = varied_images(20, 4);
  const Check c = reconstruction_beats_mean_image("Fashion-MNIST test", 0.01, targets, 0.5);
  CHECK(c.what.find("Fashion-MNIST test") != std::string::npos);
  CHECK(c.what.find("0.01000") != std::string::npos);
  CHECK(c.what.find("mean image") != std::string::npos);
}
