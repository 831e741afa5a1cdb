#include <catch2/catch.hpp>

#include <cmath>

#include "cae/init.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"

using namespace cae;

namespace {
struct Stats {
  double min = 1e300, max = -1e300, mean = 0, stddev = 0;
};
template <typename T>
Stats stats(const Tensor<T>& t) {
  Stats s;
  for (T v : t) {
    s.min = std::min<double>(s.min, v);
    s.max = std::max<double>(s.max, v);
    s.mean += v;
  }
  s.mean /= t.numel();
  for (T v : t) s.stddev += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(s.stddev / (t.numel() - 1));
  return s;
}
}  // namespace

TEST_CASE("fan in and out follow PyTorch", "[init]") {
  Tensor<float> conv({16, 8, 3, 5});
  CHECK(init::fans(conv) == std::make_pair<index_t, index_t>(8 * 15, 16 * 15));
  Tensor<float> linear({10, 784});
  CHECK(init::fans(linear) == std::make_pair<index_t, index_t>(784, 10));
  Tensor<float> bias({10});
  CHECK_THROWS_AS(init::fans(bias), ShapeError);
}

TEST_CASE("gains are torch.nn.init.calculate_gain's", "[init]") {
  CHECK(init::gain(init::Nonlinearity::ReLU) == Approx(std::sqrt(2.0)));
  CHECK(init::gain(init::Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(init::gain(init::Nonlinearity::LeakyReLU, std::sqrt(5.0)) == Approx(std::sqrt(2.0 / 6.0)));
  CHECK(init::gain(init::Nonlinearity::Sigmoid) == 1.0);
}

TEST_CASE("initializers have the documented bounds and spread", "[init]") {
  Rng rng(1);
  Tensor<double> w({256, 128, 3, 3});  // fan_in 1152, fan_out 2304
  const double fan_in = 1152, fan_out = 2304;

  init::kaiming_uniform_(w, 0.0, true, init::Nonlinearity::ReLU, rng);
  auto s = stats(w);
  const double ku = std::sqrt(2.0) * std::sqrt(3.0 / fan_in);
  CHECK(s.max <= ku);
  CHECK(s.min >= -ku);
  CHECK(s.max > 0.99 * ku);
  CHECK(s.stddev == Approx(ku / std::sqrt(3.0)).epsilon(0.01));

  init::kaiming_normal_(w, 0.0, false, init::Nonlinearity::ReLU, rng);
  s = stats(w);
  CHECK(std::abs(s.mean) < 1e-3);
  CHECK(s.stddev == Approx(std::sqrt(2.0 / fan_out)).epsilon(0.01));

  init::xavier_uniform_(w, 1.0, rng);
  s = stats(w);
  const double xu = std::sqrt(6.0 / (fan_in + fan_out));
  CHECK(s.max <= xu);
  CHECK(s.min >= -xu);
  CHECK(s.stddev == Approx(xu / std::sqrt(3.0)).epsilon(0.01));

  init::xavier_normal_(w, 2.0, rng);
  s = stats(w);
  CHECK(s.stddev == Approx(2.0 * std::sqrt(2.0 / (fan_in + fan_out))).epsilon(0.01));
}

TEST_CASE("layers start from torch.nn's default initialization", "[init]") {
  // reset_parameters(): kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
  // the weight; the bias uses the same bound.
  manual_seed(3);
  Linear<float> fc(LinearOptions(400, 300));
  const double bound = 1.0 / std::sqrt(400.0);
  auto ws = stats(*fc.parameters()[0].value);
  auto bs = stats(*fc.parameters()[1].value);
  CHECK(ws.max <= bound);
  CHECK(ws.min >= -bound);
  CHECK(ws.max > 0.99 * bound);
  CHECK(ws.stddev == Approx(bound / std::sqrt(3.0)).epsilon(0.02));
  CHECK(bs.max <= bound);
  CHECK(bs.min >= -bound);

  // ConvTranspose2d's weight is [in, out, kh, kw], so PyTorch's fan_in is out*kh*kw.
  ConvTranspose2d<float> deconv(ConvTranspose2dOptions(64, 16, 3));
  const double dbound = 1.0 / std::sqrt(16.0 * 9);
  auto ds = stats(*deconv.parameters()[0].value);
  CHECK(ds.max <= dbound);
  CHECK(ds.max > 0.98 * dbound);

  // The same seed builds the same weights.
  manual_seed(3);
  Linear<float> again(LinearOptions(400, 300));
  CHECK(max_abs_diff(*again.parameters()[0].value, *fc.parameters()[0].value) == 0.f);
}
