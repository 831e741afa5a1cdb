#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "cae/kernels/pool.hpp"
#include "cae/kernels/running_max.hpp"
#include "cae/layers/pool.hpp"
#include "cae/parallel.hpp"
#include "cae/random.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {

template <typename T>
Tensor<T> random_tensor(const Shape& shape, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T> t(shape);
  t.fill_uniform(rng, T(-1), T(1));
  return t;
}

// Values from `levels` equally spaced steps in [-1, 1]: windows hold many equal maxima.
template <typename T>
Tensor<T> quantized_tensor(const Shape& shape, int levels, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T> t(shape);
  for (T& v : t) v = T(-1) + T(2) * T(rng.below(levels)) / T(levels > 1 ? levels - 1 : 1);
  return t;
}

template <typename T>
bool bitwise_equal(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.numel()) == 0;
}

kernels::Pool2dGeometry make_geometry(index_t in_h, index_t in_w, index_t kh, index_t kw,
                                      index_t sh, index_t sw, index_t ph, index_t pw,
                                      bool ceil_mode) {
  kernels::Pool2dGeometry g;
  g.in_h = in_h;
  g.in_w = in_w;
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.stride_h = sh;
  g.stride_w = sw;
  g.pad_h = ph;
  g.pad_w = pw;
  g.out_h = kernels::pool_output_size(in_h, kh, sh, ph, 1, ceil_mode);
  g.out_w = kernels::pool_output_size(in_w, kw, sw, pw, 1, ceil_mode);
  return g;
}

// Runs both max-pool algorithms on x [planes, in_h, in_w] and requires the
// same outputs and argmax, bit for bit.
template <typename T>
void require_same_max_pool(const Tensor<T>& x, const kernels::Pool2dGeometry& g) {
  const index_t planes = x.numel() / (g.in_h * g.in_w);
  const index_t n = planes * g.out_h * g.out_w;
  std::vector<T> y_direct(n), y_running(n);
  std::vector<kernels::pool_index_t> i_direct(n), i_running(n);
  kernels::max_pool2d_forward(y_direct.data(), i_direct.data(), x.data(), planes, g);
  Scratch scratch;
  kernels::max_pool2d_running_forward(y_running.data(), i_running.data(), x.data(), planes, g, scratch);
  INFO("input " << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h << "x" << g.kernel_w
                << " stride " << g.stride_h << "x" << g.stride_w << " padding " << g.pad_h << "x"
                << g.pad_w << " output " << g.out_h << "x" << g.out_w);
  CHECK(i_direct == i_running);
  CHECK(std::memcmp(y_direct.data(), y_running.data(), sizeof(T) * n) == 0);
}

}  // namespace

TEST_CASE("pool output sizes follow PyTorch's formula", "[pool]") {
  using kernels::pool_output_size;
  // Values from torch.nn.functional.max_pool2d (torch 1.13).
  CHECK(pool_output_size(7, 2, 2, 0, 1, false) == 3);
  CHECK(pool_output_size(7, 2, 2, 0, 1, true) == 4);
  CHECK(pool_output_size(8, 3, 2, 1, 1, true) == 5);
  CHECK(pool_output_size(158, 59, 1, 0, 1, false) == 100);
  CHECK(pool_output_size(77, 38, 1, 0, 1, false) == 40);
  CHECK(pool_output_size(1, 3, 1, 1, 1, false) == 1);
  CHECK(pool_output_size(9, 3, 1, 1, 2, false) == 7);
  // ceil mode drops a last window that would start in the right padding.
  CHECK(pool_output_size(5, 2, 2, 1, 1, true) == 3);
  CHECK(pool_output_size(10, 4, 3, 2, 1, true) == 4);
  CHECK(pool_output_size(6, 3, 3, 1, 1, true) == 3);
  // Too small an input gives < 1 (rounding toward minus infinity).
  CHECK(pool_output_size(2, 5, 2, 0, 1, false) == -1);

  MaxPool2d<float> big(MaxPool2dOptions(59).stride(1));
  CHECK(big.build({8, 158, 158}) == Shape{8, 100, 100});
  MaxPool2d<float> mid(MaxPool2dOptions(38).stride(1));
  CHECK(mid.build({8, 77, 77}) == Shape{8, 40, 40});
  MaxPool2d<float> odd(MaxPool2dOptions({3, 2}).stride({2, 1}).padding({1, 0}).ceil_mode(true));
  CHECK(odd.build({2, 7, 9}) == Shape{2, 4, 8});
  AvgPool2d<float> avg(AvgPool2dOptions(3).stride(2).padding(1).ceil_mode(true));
  CHECK(avg.build({3, 8, 10}) == Shape{3, 5, 6});
  CHECK(avg.build({3, 8, 10}) == Shape{3, 5, 6});  // idempotent
}

TEST_CASE("pool describe() prints like PyTorch", "[pool]") {
  CHECK(MaxPool2d<float>(2).describe() ==
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
  CHECK(MaxPool2d<float>(MaxPool2dOptions({3, 2}).stride(1).padding({1, 0}).ceil_mode(true))
            .describe() ==
        "MaxPool2d(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=1, ceil_mode=True)");
  CHECK(AvgPool2d<float>(AvgPool2dOptions(3).stride(2).padding(1)).describe() ==
        "AvgPool2d(kernel_size=3, stride=2, padding=1)");
}

TEST_CASE("pool errors name the layer and the offending values", "[pool][errors]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(MaxPool2d<float>(MaxPool2dOptions(3).padding(2)),
                    Contains("MaxPool2d(kernel_size=3") &&
                        Contains("padding should be at most half of kernel size") &&
                        Contains("padding=2"));
  CHECK_THROWS_AS(AvgPool2d<float>(AvgPool2dOptions(2).padding(2)), Error);
  CHECK_THROWS_WITH(MaxPool2d<float>(MaxPool2dOptions(2).stride(0)),
                    Contains("stride must be positive"));
  CHECK_THROWS_WITH(MaxPool2d<float>(MaxPool2dOptions(0)), Contains("kernel_size must be positive"));
  CHECK_THROWS_WITH(MaxPool2d<float>(MaxPool2dOptions(2).dilation(0)),
                    Contains("dilation must be positive"));

  MaxPool2d<float> pool(MaxPool2dOptions(5).stride(2));
  CHECK_THROWS_AS(pool.build({3, 4, 4}), ShapeError);
  CHECK_THROWS_WITH(pool.build({3, 4, 4}), Contains("MaxPool2d(kernel_size=5") &&
                                               Contains("[-1, 3, 4, 4] is too small"));
  CHECK_THROWS_WITH(pool.build({3, 16}), Contains("expected input [N, C, H, W]"));
  Tensor<float> flat({2, 16});
  CHECK_THROWS_AS(pool.forward(flat), ShapeError);

  AvgPool2d<float> avg(2);
  Tensor<float> x({1, 1, 4, 4}, 1.f);
  avg.forward(x);
  Tensor<float> wrong({1, 1, 3, 3});
  CHECK_THROWS_WITH(avg.backward(wrong), Contains("AvgPool2d") && Contains("[1, 1, 3, 3]"));
}

TEST_CASE("max pool values, argmax and first-max tie-breaking", "[pool]") {
  // Window of a 2x2 pool over rows [1 3; 3 2]: the max 3 appears twice; PyTorch
  // takes the first in row-major order, position (0, 1).
  auto x = Tensor<float>::from({1, 1, 2, 4}, {1, 3, 5, 5, 3, 2, 5, 4});
  MaxPool2d<float> pool(2);
  const auto& y = pool.forward(x);
  CHECK(y.shape() == Shape{1, 1, 1, 2});
  CHECK(y[0] == 3.f);
  CHECK(y[1] == 5.f);
  CHECK(pool.indices() == std::vector<kernels::pool_index_t>{1, 2});
  auto dy = Tensor<float>::from({1, 1, 1, 2}, {10, 20});
  const auto& dx = pool.backward(dy);
  CHECK(std::vector<float>(dx.begin(), dx.end()) == std::vector<float>{0, 10, 20, 0, 0, 0, 0, 0});

  // Overlapping windows that share a max sum their gradients there.
  auto z = Tensor<float>::from({1, 1, 1, 4}, {0, 9, 1, 2});
  MaxPool2d<float> overlap(MaxPool2dOptions({1, 2}).stride(1));
  overlap.forward(z);
  const auto& dz = overlap.backward(Tensor<float>::from({1, 1, 1, 3}, {1, 2, 4}));
  CHECK(std::vector<float>(dz.begin(), dz.end()) == std::vector<float>{0, 3, 0, 4});
}

TEST_CASE("avg pool divisors: count_include_pad, ceil mode, divisor_override", "[pool]") {
  Tensor<double> x({1, 1, 3, 3}, 1.0);
  // 2x2 windows, stride 2, padding 1: each corner window covers 1 input and 3 pads.
  AvgPool2d<double> incl(AvgPool2dOptions(2).padding(1));
  const auto& yi = incl.forward(x);
  REQUIRE(yi.shape() == Shape{1, 1, 2, 2});
  CHECK(yi[0] == 0.25);
  CHECK(yi[1] == 0.5);
  CHECK(yi[3] == 1.0);
  AvgPool2d<double> excl(AvgPool2dOptions(2).padding(1).count_include_pad(false));
  const auto& ye = excl.forward(x);
  CHECK(ye[0] == 1.0);
  CHECK(ye[3] == 1.0);
  AvgPool2d<double> over(AvgPool2dOptions(2).padding(1).divisor_override(2));
  CHECK(over.forward(x)[3] == 2.0);
  // ceil mode: the last window reaches past input and padding; that part never counts.
  AvgPool2d<double> ceil(AvgPool2dOptions(2).ceil_mode(true));
  const auto& yc = ceil.forward(x);
  REQUIRE(yc.shape() == Shape{1, 1, 2, 2});
  CHECK(yc[3] == 1.0);
}

TEST_CASE("pool gradients", "[pool][gradcheck]") {
  std::vector<std::pair<MaxPool2dOptions, Shape>> max_cases = {
      {MaxPool2dOptions(2), {2, 3, 8, 8}},
      {MaxPool2dOptions(3).stride(2).padding(1), {2, 2, 7, 9}},
      {MaxPool2dOptions(3).stride(1).padding(1), {1, 2, 7, 9}},
      {MaxPool2dOptions(2).ceil_mode(true), {1, 2, 7, 9}},
      {MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true), {1, 2, 8, 10}},
      {MaxPool2dOptions(3).stride(1).padding(1).dilation(2), {1, 2, 9, 9}},
      {MaxPool2dOptions({3, 2}).stride({2, 1}).padding({1, 0}), {1, 2, 7, 9}},
      {MaxPool2dOptions(7).stride(1).padding(3), {1, 2, 11, 13}},  // running max
      {MaxPool2dOptions(9).stride(1), {2, 1, 15, 14}},              // running max
      {MaxPool2dOptions(8).stride(2).padding(2).ceil_mode(true), {1, 1, 15, 16}},
  };
  for (auto& [options, shape] : max_cases) {
    MaxPool2d<double> pool(options);
    testing::check_module_gradients(pool, shape);
  }
  std::vector<std::pair<AvgPool2dOptions, Shape>> avg_cases = {
      {AvgPool2dOptions(2), {2, 3, 8, 8}},
      {AvgPool2dOptions(3).stride(2).padding(1), {2, 2, 7, 9}},
      {AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(false), {2, 2, 7, 9}},
      {AvgPool2dOptions(3).stride(1).padding(1), {1, 2, 7, 9}},
      {AvgPool2dOptions(3).stride(2).padding(1).ceil_mode(true), {1, 2, 8, 10}},
      {AvgPool2dOptions(3).stride(2).padding(1).ceil_mode(true).count_include_pad(false),
       {1, 2, 8, 10}},
      {AvgPool2dOptions({3, 2}).stride({1, 2}).padding({1, 0}), {1, 2, 7, 9}},
      {AvgPool2dOptions(7).stride(1).padding(3), {1, 1, 12, 13}},
  };
  for (auto& [options, shape] : avg_cases) {
    AvgPool2d<double> pool(options);
    testing::check_module_gradients(pool, shape);
  }
}

namespace {
template <typename T>
std::unique_ptr<MaxPool2d<T>> make_max_pool(const testing::Fixture& f) {
  auto [kh, kw] = f.config_pair("kernel_size");
  auto [sh, sw] = f.config_pair("stride");
  auto [ph, pw] = f.config_pair("padding");
  auto [dh, dw] = f.config_pair("dilation");
  return std::make_unique<MaxPool2d<T>>(MaxPool2dOptions({kh, kw})
                                            .stride({sh, sw})
                                            .padding({ph, pw})
                                            .dilation({dh, dw})
                                            .ceil_mode(f.config_bool("ceil_mode")));
}
}  // namespace

TEST_CASE("pool parity with PyTorch", "[pool][parity]") {
  testing::check_parity_cases("max_pool2d", []<typename T>(const testing::Fixture& f) {
    return make_max_pool<T>(f);
  });
  testing::check_parity_cases("avg_pool2d", []<typename T>(const testing::Fixture& f) {
    auto [kh, kw] = f.config_pair("kernel_size");
    auto [sh, sw] = f.config_pair("stride");
    auto [ph, pw] = f.config_pair("padding");
    return std::make_unique<AvgPool2d<T>>(AvgPool2dOptions({kh, kw})
                                              .stride({sh, sw})
                                              .padding({ph, pw})
                                              .ceil_mode(f.config_bool("ceil_mode"))
                                              .count_include_pad(f.config_bool("count_include_pad"))
                                              .divisor_override(f.config_int("divisor_override")));
  });
}

TEST_CASE("max pool argmax equals PyTorch's indices exactly, ties included", "[pool][parity]") {
  const auto files = testing::fixture_files("max_pool2d");
  REQUIRE(files.size() >= 10);
  auto check = [](auto tag, const std::string& path) {
    using T = typename decltype(tag)::type;
    INFO("fixture " << path << " in " << (sizeof(T) == 4 ? "float" : "double"));
    testing::Fixture f(path);
    auto pool = make_max_pool<T>(f);
    pool->forward(f.tensor<T>("input"));
    const Tensor<double> expected = f.tensor<double>("indices");
    REQUIRE(static_cast<index_t>(pool->indices().size()) == expected.numel());
    index_t differ = 0;
    for (index_t i = 0; i < expected.numel(); ++i)
      differ += pool->indices()[static_cast<std::size_t>(i)] != static_cast<index_t>(expected[i]);
    CHECK(differ == 0);
  };
  for (const auto& path : files) {
    check(std::type_identity<float>{}, path);
    check(std::type_identity<double>{}, path);
  }
}

TEST_CASE("running max equals the direct scan bit for bit", "[pool][running_max]") {
  struct Case {
    index_t h, w, kh, kw, sh, sw, ph, pw;
    bool ceil;
  };
  const std::vector<Case> cases = {
      {15, 14, 9, 9, 1, 1, 0, 0, false},  {12, 13, 7, 7, 1, 1, 3, 3, false},
      {11, 13, 5, 7, 1, 1, 2, 3, false},  {20, 17, 6, 4, 1, 1, 3, 2, false},
      {15, 16, 8, 8, 2, 2, 2, 2, true},   {17, 19, 9, 5, 3, 2, 4, 1, true},
      {7, 9, 3, 3, 1, 1, 1, 1, false},    {7, 9, 2, 2, 2, 2, 0, 0, true},
      {5, 6, 12, 12, 1, 1, 6, 6, false},  // windows wider than the input
      {1, 40, 1, 13, 1, 1, 0, 6, false},  {33, 1, 10, 1, 1, 1, 5, 0, false},
      {40, 40, 38, 38, 1, 1, 0, 0, false}, {25, 31, 25, 31, 1, 1, 12, 15, false},
  };
  for (const auto& c : cases) {
    const auto g = make_geometry(c.h, c.w, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.ceil);
    REQUIRE(g.out_h >= 1);
    REQUIRE(g.out_w >= 1);
    require_same_max_pool(random_tensor<float>({3, c.h, c.w}, 7), g);
    require_same_max_pool(random_tensor<double>({2, c.h, c.w}, 8), g);
    for (int levels : {1, 2, 3, 5}) {
      require_same_max_pool(quantized_tensor<float>({3, c.h, c.w}, levels, 9 + levels), g);
      require_same_max_pool(quantized_tensor<double>({2, c.h, c.w}, levels, 19 + levels), g);
    }
    // Infinities and signed zeros are ordinary values to both algorithms.
    auto special = quantized_tensor<float>({2, c.h, c.w}, 4, 31);
    const float values[4] = {-std::numeric_limits<float>::infinity(), -0.f, 0.f,
                             std::numeric_limits<float>::infinity()};
    for (float& v : special) v = values[static_cast<int>((v + 1.f) * 1.5f + 0.5f)];
    require_same_max_pool(special, g);
  }
}

TEST_CASE("the 59x59 pool of the 000 paper: running max equals direct", "[pool][running_max]") {
  MaxPool2d<float> pool(MaxPool2dOptions(59).stride(1));
  for (int levels : {0, 3}) {
    const Tensor<float> x = levels ? quantized_tensor<float>({1, 2, 158, 158}, levels, 5)
                                   : random_tensor<float>({1, 2, 158, 158}, 5);
    const kernels::Pool2dGeometry g = make_geometry(158, 158, 59, 59, 1, 1, 0, 0, false);
    REQUIRE(kernels::prefer_running_max(g));
    Tensor<float> y_direct({1, 2, 100, 100});
    std::vector<kernels::pool_index_t> i_direct(static_cast<std::size_t>(y_direct.numel()));
    kernels::max_pool2d_forward(y_direct.data(), i_direct.data(), x.data(), 2, g);

    const Tensor<float>& y = pool.forward(x);  // dispatches to the running max
    CHECK(bitwise_equal(y, y_direct));
    CHECK(pool.indices() == i_direct);

    const Tensor<float> dy = random_tensor<float>(y.shape(), 6);
    Tensor<float> dx_direct(x.shape());
    kernels::max_pool2d_backward(dx_direct.data(), dy.data(), i_direct.data(), 2, g);
    CHECK(bitwise_equal(pool.backward(dy), dx_direct));
  }
}

TEST_CASE("pool results do not depend on the thread count", "[pool][threads]") {
  const int saved = num_threads();
  const Tensor<float> x = random_tensor<float>({4, 6, 40, 40}, 3);
  const Tensor<float> dy_big = random_tensor<float>({4, 6, 34, 34}, 4);
  auto run = [&](Module<float>& m, const Tensor<float>& dy) {
    Tensor<float> y = m.forward(x);
    Tensor<float> dx = m.backward(dy);
    return std::make_pair(y, dx);
  };
  MaxPool2d<float> big(MaxPool2dOptions(7).stride(1));
  MaxPool2d<float> small(MaxPool2dOptions(3).stride(2).padding(1));
  AvgPool2d<float> avg(AvgPool2dOptions(3).stride(1).padding(1).count_include_pad(false));
  set_num_threads(1);
  const auto b1 = run(big, dy_big);
  const auto s1 = run(small, random_tensor<float>({4, 6, 20, 20}, 5));
  const auto a1 = run(avg, random_tensor<float>({4, 6, 40, 40}, 6));
  set_num_threads(3);
  const auto b3 = run(big, dy_big);
  const auto s3 = run(small, random_tensor<float>({4, 6, 20, 20}, 5));
  const auto a3 = run(avg, random_tensor<float>({4, 6, 40, 40}, 6));
  set_num_threads(saved);
  CHECK(bitwise_equal(b1.first, b3.first));
  CHECK(bitwise_equal(b1.second, b3.second));
  CHECK(bitwise_equal(s1.first, s3.first));
  CHECK(bitwise_equal(s1.second, s3.second));
  CHECK(bitwise_equal(a1.first, a3.first));
  CHECK(bitwise_equal(a1.second, a3.second));
}

TEST_CASE("max pool skips the input gradient when switched off", "[pool]") {
  MaxPool2d<float> pool(2);
  pool.set_input_grad(false);
  const Tensor<float> x = random_tensor<float>({1, 1, 4, 4}, 1);
  pool.forward(x);
  CHECK(pool.backward(Tensor<float>({1, 1, 2, 2}, 1.f)).empty());
}

TEST_CASE("max pool: every algorithm, forced, gives the direct scan's bits", "[pool][algorithms]") {
  using kernels::PoolAlgorithm;
  struct Case {
    MaxPool2dOptions options;
    Shape input;
  };
  const std::vector<Case> cases = {
      {MaxPool2dOptions(2), {2, 3, 10, 10}},
      {MaxPool2dOptions(7).stride(1), {2, 3, 20, 19}},
      {MaxPool2dOptions({5, 3}).stride({1, 2}).padding({2, 1}), {1, 4, 13, 17}},
      {MaxPool2dOptions(3).stride(2).padding(1).ceil_mode(true), {2, 2, 11, 11}},
  };
  for (const auto& c : cases) {
    Tensor<float> x(c.input);
    Rng rng(3);
    for (index_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(std::floor(rng.uniform() * 8));  // ties
    MaxPool2d<float> reference(MaxPool2dOptions(c.options).algorithm(PoolAlgorithm::Direct));
    const Tensor<float> y = reference.forward(x);
    Tensor<float> dy(y.shape());
    for (index_t i = 0; i < dy.numel(); ++i) dy[i] = static_cast<float>(rng.uniform());
    const Tensor<float> dx = reference.backward(dy);
    CHECK(reference.algorithm().algorithm == PoolAlgorithm::Direct);
    MaxPool2d<float> running(MaxPool2dOptions(c.options).algorithm(PoolAlgorithm::RunningMax));
    INFO(running.describe());
    CHECK(std::memcmp(running.forward(x).data(), y.data(), sizeof(float) * y.numel()) == 0);
    CHECK(running.indices() == reference.indices());
    CHECK(std::memcmp(running.backward(dy).data(), dx.data(), sizeof(float) * dx.numel()) == 0);
    CHECK(running.algorithm().algorithm == PoolAlgorithm::RunningMax);
  }
  MaxPool2d<float> big(MaxPool2dOptions(7).stride(1));
  Tensor<float> x({1, 1, 20, 20});
  x.fill(0);
  big.forward(x);
  CHECK(big.algorithm().algorithm == PoolAlgorithm::RunningMax);
  MaxPool2d<float> dilated(MaxPool2dOptions(3).dilation(2).algorithm(PoolAlgorithm::RunningMax));
  CHECK_THROWS_WITH(dilated.forward(x), Catch::Contains("MaxPool2d") && Catch::Contains("dilation"));
}
