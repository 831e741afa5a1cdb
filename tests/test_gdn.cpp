#include <catch2/catch.hpp>

#include <cmath>

#include "cae/layers/gdn.hpp"
#include "cae/parallel.hpp"
#include "gradcheck.hpp"

using namespace cae;

namespace {
// Stored parameters away from CompressAI's identity initialization, so every
// gamma_ij matters, and away from the lower bound, where the gradient is one-sided.
void randomize(GDN<double>& g, std::uint64_t seed) {
  Rng rng(seed);
  g.beta().fill_uniform(rng, 0.5, 1.5);
  g.gamma().fill_uniform(rng, 0.05, 0.6);
}
}  // namespace

TEST_CASE("GDN matches its definition at initialization", "[gdn]") {
  GDN<double> gdn(GDNOptions(3));
  Tensor<double> x = Tensor<double>::from({1, 3, 1, 2}, {0.5, -1.0, 2.0, 0.0, -3.0, 4.0});
  const Tensor<double>& y = gdn.forward(x);
  // Effective beta 1, gamma 0.1 I: y = x / sqrt(1 + 0.1 x^2).
  for (index_t k = 0; k < 6; ++k)
    CHECK(y[k] == Approx(x[k] / std::sqrt(1 + 0.1 * x[k] * x[k])).epsilon(1e-9));
  GDN<double> igdn(GDNOptions(3).inverse(true));
  const Tensor<double>& z = igdn.forward(x);
  for (index_t k = 0; k < 6; ++k)
    CHECK(z[k] == Approx(x[k] * std::sqrt(1 + 0.1 * x[k] * x[k])).epsilon(1e-9));
  CHECK(gdn.describe() == "GDN(3)");
  CHECK(igdn.describe() == "GDN(3, inverse=True)");
}

TEST_CASE("GDN mixes channels through gamma", "[gdn]") {
  GDN<double> gdn(GDNOptions(2));
  const double s = kernels::nonnegative_init(0.5), b = kernels::nonnegative_init(2.0);
  gdn.beta()[0] = b;
  gdn.beta()[1] = b;
  for (index_t k = 0; k < 4; ++k) gdn.gamma()[k] = s;  // every effective gamma_ij = 0.5
  Tensor<double> x = Tensor<double>::from({1, 2, 1, 1}, {1.0, 2.0});
  const Tensor<double>& y = gdn.forward(x);
  const double norm = 2.0 + 0.5 * (1 + 4);
  CHECK(y[0] == Approx(1.0 / std::sqrt(norm)).epsilon(1e-9));
  CHECK(y[1] == Approx(2.0 / std::sqrt(norm)).epsilon(1e-9));
}

TEST_CASE("GDN and inverse GDN gradients", "[gdn][gradcheck]") {
  for (bool inverse : {false, true}) {
    for (Shape shape : {Shape{2, 4, 3, 5}, Shape{1, 1, 2, 2}, Shape{3, 6, 1, 4}}) {
      GDN<double> g(GDNOptions(shape[1]).inverse(inverse));
      randomize(g, 7 + shape[1]);
      testing::GradcheckOptions o;
      o.input_low = -2;
      o.input_high = 2;
      testing::check_module_gradients(g, shape, o);
    }
  }
}

TEST_CASE("GDN's lower bound passes gradients only upwards", "[gdn]") {
  // Stored value below the bound: dL/deffective > 0 (pushing it lower) is stopped,
  // dL/deffective < 0 passes as if the bound were the identity.
  const double bound = kernels::nonnegative_bound(1e-6);
  const double stored[2] = {bound / 2, bound / 2};
  const double grad[2] = {1.0, -1.0};
  double dstored[2] = {0, 0};
  kernels::nonnegative_backward(dstored, grad, stored, 2, bound);
  CHECK(dstored[0] == 0.0);
  CHECK(dstored[1] == Approx(-2.0 * bound));
  double effective[2];
  kernels::nonnegative_forward(effective, stored, 2, bound);
  CHECK(effective[0] == Approx(1e-6).epsilon(1e-9));
}

TEST_CASE("GDN gradients are the same for any thread count", "[gdn]") {
  Tensor<float> x({4, 8, 6, 6});
  Rng rng(3);
  x.fill_uniform(rng, -2.f, 2.f);
  Tensor<float> dy(x.shape());
  dy.fill_uniform(rng, -1.f, 1.f);
  std::vector<Tensor<float>> results;
  const int saved_threads = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    GDN<float> g(GDNOptions(8));
    Rng prng(5);
    g.gamma().fill_uniform(prng, 0.05f, 0.5f);
    g.forward(x);
    results.push_back(g.backward(dy));
    results.push_back(g.gamma_grad());
    results.push_back(g.beta_grad());
  }
  set_num_threads(saved_threads);
  for (std::size_t i = 3; i < results.size(); ++i)
    CHECK(max_abs_diff(results[i], results[i % 3]) == 0.0f);
}

TEST_CASE("GDN rejects bad input", "[gdn]") {
  GDN<float> g(GDNOptions(4));
  CHECK_THROWS_AS(g.forward(Tensor<float>({1, 3, 2, 2})), ShapeError);
  CHECK_THROWS_AS(g.forward(Tensor<float>({4, 2, 2})), ShapeError);
  CHECK_THROWS_AS(g.backward(Tensor<float>({1, 4, 2, 2})), Error);
  CHECK_THROWS_AS(GDN<float>(GDNOptions(-1)), Error);
  GDN<float> lazy;
  lazy.build({5, 2, 2});
  CHECK(lazy.channels() == 5);
  CHECK(lazy.parameters().size() == 2);
  CHECK(lazy.parameters()[1].name == "gamma");
}
