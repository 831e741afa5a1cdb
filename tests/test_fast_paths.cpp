// The fast paths added for speed (benchmarks/, docs/benchmarks.md) against
// plain reference loops: vectorized max pooling, the one-pass BCE loss, the
// vectorized sigmoid. Each must give what the straightforward code gives (bit
// for bit where the arithmetic is the same), for any thread count.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "cae/kernels/activation.hpp"
#include "cae/kernels/loss.hpp"
#include "cae/kernels/pool.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/parallel.hpp"
#include "cae/random.hpp"

using namespace cae;
using Catch::Matchers::Contains;

namespace {

// PyTorch's max pool, one window at a time: row-major scan, first strict max wins.
void naive_max_pool(std::vector<float>& y, std::vector<kernels::pool_index_t>& at,
                    const std::vector<float>& x, index_t planes, const kernels::Pool2dGeometry& g) {
  y.assign(static_cast<std::size_t>(planes * g.out_h * g.out_w), 0.f);
  at.assign(y.size(), 0);
  for (index_t p = 0; p < planes; ++p)
    for (index_t oh = 0; oh < g.out_h; ++oh)
      for (index_t ow = 0; ow < g.out_w; ++ow) {
        bool any = false;
        float best = 0;
        index_t best_at = -1;
        for (index_t i = 0; i < g.kernel_h; ++i)
          for (index_t j = 0; j < g.kernel_w; ++j) {
            const index_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
            const index_t iw = ow * g.stride_w - g.pad_w + j * g.dilation_w;
            if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
            const float v = x[static_cast<std::size_t>((p * g.in_h + ih) * g.in_w + iw)];
            if (!any || v > best) {
              best = v;
              best_at = ih * g.in_w + iw;
              any = true;
            }
          }
        const auto o = static_cast<std::size_t>((p * g.out_h + oh) * g.out_w + ow);
        y[o] = any ? best : -std::numeric_limits<float>::infinity();
        at[o] = static_cast<kernels::pool_index_t>(best_at);
      }
}

kernels::Pool2dGeometry geometry(index_t in_h, index_t in_w, index_t k, index_t s, index_t pad,
                                 index_t dil, bool ceil_mode) {
  kernels::Pool2dGeometry g;
  g.in_h = in_h;
  g.in_w = in_w;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = s;
  g.pad_h = g.pad_w = pad;
  g.dilation_h = g.dilation_w = dil;
  g.out_h = kernels::pool_output_size(in_h, k, s, pad, dil, ceil_mode);
  g.out_w = kernels::pool_output_size(in_w, k, s, pad, dil, ceil_mode);
  return g;
}

}  // namespace

TEST_CASE("vectorized max pool equals the row-major scan, ties and NaN included", "[fast][pool]") {
  Rng rng(7);
  struct Case {
    index_t h, w, k, s, pad, dil;
    bool ceil_mode;
  };
  const Case cases[] = {
      {160, 160, 3, 1, 0, 1, false},  // the 000 autoencoders' pool
      {32, 32, 2, 2, 0, 1, false},    // 2x2 pools of the small CAEs
      {28, 28, 2, 2, 0, 1, false},   {9, 11, 3, 2, 1, 1, true},  {12, 13, 3, 1, 1, 1, false},
      {10, 10, 2, 1, 1, 1, true},    {11, 9, 3, 2, 1, 2, false}, {7, 40, 4, 3, 2, 1, true},
      {6, 6, 5, 1, 2, 1, false},     {37, 35, 3, 3, 0, 1, true},
  };
  for (const Case& c : cases) {
    const auto g = geometry(c.h, c.w, c.k, c.s, c.pad, c.dil, c.ceil_mode);
    const index_t planes = 3;
    std::vector<float> x(static_cast<std::size_t>(planes * c.h * c.w));
    // Few distinct values: many ties. Some NaN, which (unlike in PyTorch) never wins
    // a window unless it comes first.
    for (auto& v : x) v = static_cast<float>(rng.below(5));
    for (std::size_t i = 0; i < x.size(); i += 37) x[i] = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> expected_y;
    std::vector<kernels::pool_index_t> expected_at;
    naive_max_pool(expected_y, expected_at, x, planes, g);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      std::vector<float> y(expected_y.size());
      std::vector<kernels::pool_index_t> at(y.size());
      kernels::max_pool2d_forward(y.data(), at.data(), x.data(), planes, g);
      INFO("input " << c.h << "x" << c.w << " kernel " << c.k << " stride " << c.s << " pad "
                    << c.pad << " dilation " << c.dil << " ceil " << c.ceil_mode << " threads "
                    << threads);
      CHECK(at == expected_at);
      bool same_values = true;
      for (std::size_t i = 0; i < y.size(); ++i)
        same_values = same_values && (y[i] == expected_y[i] || (std::isnan(y[i]) && std::isnan(expected_y[i])));
      CHECK(same_values);
    }
  }
  set_num_threads(2);
}

TEST_CASE("one-pass BCE: loss and gradient as the plain formulas, any thread count", "[fast][loss]") {
  Rng rng(3);
  for (index_t n : {index_t(5), index_t(1000), index_t(70001), index_t(15 * 3 * 128 * 128)}) {
    std::vector<float> p(static_cast<std::size_t>(n)), t(p.size()), grad(p.size()), grad2(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      p[i] = static_cast<float>(rng.uniform());
      t[i] = static_cast<float>(rng.uniform());
    }
    p[0] = 0.f;  // log(0): clamped to -100
    if (n > 1) p[1] = 1.f;
    double expected = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double pi = p[i], ti = t[i];
      expected -= ti * std::max(std::log(pi), -100.0) + (1 - ti) * std::max(std::log1p(-pi), -100.0);
    }
    expected /= static_cast<double>(n);
    set_num_threads(1);
    const double one = kernels::bce_loss_forward(p.data(), t.data(), n, grad.data());
    set_num_threads(2);
    const double two = kernels::bce_loss_forward(p.data(), t.data(), n, grad2.data());
    CHECK(one == two);  // bitwise, whatever the thread count
    CHECK(one == Approx(expected).epsilon(1e-6));
    CHECK(grad == grad2);
    // The gradient of the fused pass is bce_loss_backward's, bit for bit.
    std::vector<float> reference(p.size());
    kernels::bce_loss_backward(reference.data(), p.data(), t.data(), n);
    CHECK(grad == reference);
    const float floor = 1e-12f, inv_n = static_cast<float>(1.0 / static_cast<double>(n));
    const std::size_t last = p.size() - 1;
    CHECK(grad[last] == (p[last] - t[last]) / std::max((1.f - p[last]) * p[last], floor) * inv_n);
  }
}

TEST_CASE("BCELoss names the first prediction outside [0, 1]", "[fast][loss][errors]") {
  BCELoss<float> bce;
  Tensor<float> p({2, 50000}, 0.5f), t({2, 50000}, 1.f);
  p[70123] = 1.5f;
  p[90000] = -1.f;
  CHECK_THROWS_AS(bce.forward(p, t), Error);
  CHECK_THROWS_WITH(bce.forward(p, t), Contains("got 1.5 at element 70123") &&
                                           Contains("BCEWithLogitsLoss"));
  p[70123] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(bce.forward(p, t), Contains("nan at element 70123"));
  p[70123] = 0.25f;
  p[90000] = 0.75f;
  CHECK(bce.forward(p, t) == Approx(std::log(2.0)).epsilon(1e-4));
}

TEST_CASE("vectorized sigmoid stays within 2 ulp-ish of the exact formula", "[fast][activation]") {
  std::vector<float> x;
  for (float v = -110.f; v <= 110.f; v += 0.37f) x.push_back(v);
  x.push_back(0.f);
  x.push_back(-0.f);
  x.push_back(std::numeric_limits<float>::infinity());
  x.push_back(-std::numeric_limits<float>::infinity());
  std::vector<float> y(x.size());
  kernels::sigmoid_forward(y.data(), x.data(), static_cast<index_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double exact = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    INFO("x = " << x[i]);
    CHECK(std::isfinite(y[i]));
    CHECK(y[i] >= 0.f);
    CHECK(y[i] <= 1.f);
    if (exact > 1e-37) CHECK(std::abs(y[i] - exact) <= 3e-7 * exact);
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float out = 0;
  kernels::sigmoid_forward(&out, &nan, 1);
  CHECK(std::isnan(out));
}

TEST_CASE("Adam's vector path agrees with its general path, any thread count", "[fast][optim]") {
  // AdamW with weight_decay 0 runs the general (per-element, branching) loop
  // with a decay factor of exactly 1; Adam takes the vector path. The two may
  // fuse multiply-adds differently (1 ulp); each is bitwise the same for any
  // thread count.
  for (index_t n : {index_t(7), index_t(300007)}) {  // the latter over kElementwiseGrain: threads share it
    Tensor<float> w1({n}), w2({n}), w3({n}), g1({n}), g2({n}), g3({n});
    Rng rng(11);
    w1.fill_uniform(rng, -1.f, 1.f);
    w2.copy_from(w1);
    w3.copy_from(w1);
    std::vector<Parameter<float>> p1{{"w", &w1, &g1}}, p2{{"w", &w2, &g2}}, p3{{"w", &w3, &g3}};
    optim::Adam<float> adam(p1, optim::AdamOptions(1e-2).betas(0.8, 0.99));
    optim::Adam<float> adam_one_thread(p3, optim::AdamOptions(1e-2).betas(0.8, 0.99));
    optim::AdamW<float> adamw(p2, optim::AdamWOptions(1e-2).betas(0.8, 0.99).weight_decay(0));
    for (int step = 0; step < 4; ++step) {
      g1.fill_uniform(rng, -2.f, 2.f);
      g2.copy_from(g1);
      g3.copy_from(g1);
      set_num_threads(2);
      adam.step();
      adamw.step();
      set_num_threads(1);
      adam_one_thread.step();
    }
    set_num_threads(2);
    INFO("n = " << n);
    CHECK(std::equal(w1.begin(), w1.end(), w3.begin()));
    // Weights in (-1.1, 1.1): at most 2 ulp apart (1 ulp at 1 is 1.2e-7).
    CHECK(max_abs_diff(w1, w2) <= 2.5e-7f);
  }
}
