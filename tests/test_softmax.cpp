#include <catch2/catch.hpp>
#include <omp.h>

#include "cae/layers/softmax.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

TEST_CASE("softmax values sum to one over dim 1", "[softmax]") {
  Softmax<float> sm;
  CHECK(sm.describe() == "Softmax(dim=1)");
  auto x = Tensor<float>::from({2, 3}, {1.f, 2.f, 3.f, 0.f, 0.f, 0.f});
  const auto& y = sm.forward(x);
  const float z = std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  CHECK(y[0] == Approx(std::exp(1.f) / z));
  CHECK(y[2] == Approx(std::exp(3.f) / z));
  CHECK(y[4] == Approx(1.f / 3));

  // [N, C, H, W]: each pixel's channels form one distribution.
  Rng rng(1);
  Tensor<float> img({2, 4, 3, 5});
  img.fill_uniform(rng, -3, 3);
  const auto& p = sm.forward(img);
  for (index_t n = 0; n < 2; ++n)
    for (index_t s = 0; s < 15; ++s) {
      float sum = 0;
      for (index_t c = 0; c < 4; ++c) sum += p[(n * 4 + c) * 15 + s];
      CHECK(sum == Approx(1.f));
    }
}

TEST_CASE("softmax and log-softmax are stable for huge logits", "[softmax]") {
  auto x = Tensor<float>::from({1, 3}, {1000.f, 999.f, -1000.f});
  Softmax<float> sm;
  LogSoftmax<float> lsm;
  CHECK(lsm.describe() == "LogSoftmax(dim=1)");
  const auto& p = sm.forward(x);
  CHECK(p[0] == Approx(1 / (1 + std::exp(-1.f))));
  CHECK(p[2] == 0.f);
  const auto& l = lsm.forward(x);
  CHECK(l[0] == Approx(-std::log1p(std::exp(-1.f))));
  CHECK(l[2] == Approx(-2000.f - std::log1p(std::exp(-1.f))));
  for (float v : l) CHECK(std::isfinite(v));
}

TEST_CASE("softmax rejects what it cannot do", "[softmax]") {
  Softmax<float> sm;
  Tensor<float> flat({5});
  CHECK_THROWS_AS(sm.forward(flat), ShapeError);
  CHECK_THROWS_WITH(sm.forward(flat), Catch::Contains("Softmax(dim=1)") && Catch::Contains("[5]") &&
                                          Catch::Contains("[-1, 0]"));
  CHECK_THROWS_WITH(sm.build(Shape{}), Catch::Contains("Softmax(dim=1)") && Catch::Contains("[-1]"));
  // dim counts the batch dimension, as PyTorch: [N, C, H, W] has dims -4 .. 3.
  LogSoftmax<float> four(4), minus_five(-5);
  CHECK_THROWS_WITH(four.build(Shape{2, 3, 4}), Catch::Contains("LogSoftmax(dim=4)") &&
                                                    Catch::Contains("[-1, 2, 3, 4]") &&
                                                    Catch::Contains("[-4, 3]"));
  CHECK_THROWS_AS(minus_five.build(Shape{2, 3, 4}), ShapeError);
  CHECK(LogSoftmax<float>(-4).build(Shape{2, 3, 4}) == Shape{2, 3, 4});
  Tensor<float> x({2, 3}, 0.f), bad({3, 2});
  sm.forward(x);
  CHECK_THROWS_WITH(sm.backward(bad), Catch::Contains("[3, 2]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("softmax over any dimension, negative dims included", "[softmax]") {
  Rng rng(2);
  Tensor<double> x({2, 3, 4, 5});
  x.fill_uniform(rng, -3, 3);
  const Shape shape = x.shape();
  for (int dim : {0, 1, 2, 3, -1, -2, -3, -4}) {
    INFO("dim " << dim);
    Softmax<double> sm(dim);
    CHECK(sm.describe() == "Softmax(dim=" + std::to_string(dim) + ")");
    const Tensor<double>& y = sm.forward(x);
    const int d = dim < 0 ? dim + 4 : dim;
    // Every line along d sums to one; along any other dimension it need not.
    index_t stride = 1;
    for (int i = d + 1; i < 4; ++i) stride *= shape[i];
    for (index_t start = 0; start < x.numel(); ++start) {
      if ((start / stride) % shape[d] != 0) continue;  // the first element of each line
      double sum = 0;
      for (index_t k = 0; k < shape[d]; ++k) sum += y[start + k * stride];
      CHECK(sum == Approx(1.0).epsilon(1e-12));
    }
    // -1 and the last index are the same dimension.
    if (dim < 0) CHECK(max_abs_diff(Softmax<double>(d).forward(x), y) == 0.0);
  }
}

TEST_CASE("softmax gradients", "[softmax][gradcheck]") {
  Softmax<double> sm;
  LogSoftmax<double> lsm;
  testing::GradcheckOptions wide;
  wide.input_low = -4;
  wide.input_high = 4;
  for (Module<double>* m : std::vector<Module<double>*>{&sm, &lsm}) {
    testing::check_module_gradients(*m, {3, 7});
    testing::check_module_gradients(*m, {2, 3, 5, 3});
    testing::check_module_gradients(*m, {1, 2, 9, 9}, wide);  // S = 81: two column blocks
  }
  for (int dim : {0, 2, -1, -3}) {
    Softmax<double> a(dim);
    LogSoftmax<double> b(dim);
    for (Module<double>* m : std::vector<Module<double>*>{&a, &b}) {
      INFO(m->describe());
      testing::check_module_gradients(*m, {2, 3, 4, 5});
      testing::check_module_gradients(*m, {3, 2, 70}, wide);
    }
  }
}

TEST_CASE("softmax results do not depend on the thread count", "[softmax]") {
  Rng rng(4);
  // Above the kernel's 16384-element threshold for threads.
  Tensor<float> x({6, 5, 30, 30}), dy({6, 5, 30, 30});
  x.fill_uniform(rng, -5, 5);
  dy.fill_uniform(rng, -1, 1);
  const int saved = omp_get_max_threads();
  for (int dim : {1, 0, 2, -1}) {
    INFO("dim " << dim);
    LogSoftmax<float> a(dim), b(dim);
    omp_set_num_threads(1);
    Tensor<float> y1 = a.forward(x), dx1 = a.backward(dy);
    omp_set_num_threads(3);
    Tensor<float> y2 = b.forward(x), dx2 = b.backward(dy);
    omp_set_num_threads(saved);
    CHECK(max_abs_diff(y1, y2) == 0.f);
    CHECK(max_abs_diff(dx1, dx2) == 0.f);
  }
}

TEST_CASE("softmax parity with PyTorch", "[softmax][parity]") {
  // Fixtures without "dim" are PyTorch's dim=1, the default.
  testing::check_parity_cases("softmax", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<Softmax<T>>(f.has("dim") ? f.config_int("dim") : 1);
  });
  testing::check_parity_cases("log_softmax", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<LogSoftmax<T>>(f.has("dim") ? f.config_int("dim") : 1);
  });
}
