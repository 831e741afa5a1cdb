#include <catch2/catch.hpp>
#include <omp.h>

#include "cae/layers/norm.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {

NormOptions options_from(const testing::Fixture& f) {
  const std::string layer = f.config_string("layer");
  NormOptions o = layer == "InstanceNorm2d" ? NormOptions(InstanceNorm2dOptions())
                                            : NormOptions(BatchNormOptions());
  o.num_features(f.config_int("num_features"))
      .eps(f.config_double("eps"))
      .affine(f.config_bool("affine"))
      .track_running_stats(f.config_bool("track_running_stats"));
  if (f.config["momentum"].is_null())
    o.momentum(std::nullopt);
  else
    o.momentum(f.config_double("momentum"));
  return o;
}

template <typename T>
std::unique_ptr<Module<T>> make_norm(const testing::Fixture& f) {
  const std::string layer = f.config_string("layer");
  if (layer == "BatchNorm1d") return std::make_unique<BatchNorm1d<T>>(options_from(f));
  if (layer == "BatchNorm2d") return std::make_unique<BatchNorm2d<T>>(options_from(f));
  return std::make_unique<InstanceNorm2d<T>>(options_from(f));
}

// Non-trivial running statistics, so that eval mode visibly uses them.
template <typename T>
void set_running_stats(detail::Normalization<T>& m) {
  Rng rng(7);
  m.running_mean().fill_uniform(rng, -0.5, 0.5);
  m.running_var().fill_uniform(rng, 0.4, 2.0);
}

template <typename T>
std::string what_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const T& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

TEST_CASE("BatchNorm2d training normalizes per channel and updates running stats", "[norm]") {
  BatchNorm2d<double> bn(BatchNorm2dOptions(2).momentum(0.25));
  Rng rng(3);
  Tensor<double> x({3, 2, 2, 3});
  x.fill_normal(rng, 1.5, 2.0);
  const auto& y = bn.forward(x);
  for (index_t c = 0; c < 2; ++c) {
    double sum = 0, sq = 0, xs = 0, xsq = 0;
    for (index_t n = 0; n < 3; ++n)
      for (index_t s = 0; s < 6; ++s) {
        const double v = y[(n * 2 + c) * 6 + s], u = x[(n * 2 + c) * 6 + s];
        sum += v;
        sq += v * v;
        xs += u;
        xsq += u * u;
      }
    CHECK(sum / 18 == Approx(0).margin(1e-12));
    CHECK(sq / 18 == Approx(1.0 / (1.0 + 1e-5 / ((xsq - xs * xs / 18) / 18))).epsilon(1e-9));
    // running_var follows the unbiased variance; normalization used the biased one.
    const double mean = xs / 18, unbiased = (xsq - xs * xs / 18) / 17;
    CHECK(bn.running_mean()[c] == Approx(0.25 * mean).epsilon(1e-12));
    CHECK(bn.running_var()[c] == Approx(0.75 + 0.25 * unbiased).epsilon(1e-12));
  }
  CHECK(bn.num_batches_tracked()[0] == 1.0);
  bn.forward(x);
  CHECK(bn.num_batches_tracked()[0] == 2.0);

  // Eval mode uses the running statistics: y = (x - rm) / sqrt(rv + eps).
  bn.eval();
  const auto& z = bn.forward(x);
  // element 7 is n = 0, c = 1
  const double expect = (x[7] - bn.running_mean()[1]) / std::sqrt(bn.running_var()[1] + 1e-5);
  CHECK(z[7] == Approx(expect).epsilon(1e-12));
  CHECK(bn.num_batches_tracked()[0] == 2.0);
}

TEST_CASE("normalization names, parameters and buffers follow PyTorch", "[norm]") {
  BatchNorm2d<float> bn(64);
  CHECK(bn.describe() ==
        "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  auto params = bn.parameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  CHECK((*params[0].value)[5] == 1.f);
  CHECK((*params[1].value)[5] == 0.f);
  auto buffers = bn.buffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].name == "running_mean");
  CHECK(buffers[1].name == "running_var");
  CHECK(buffers[2].name == "num_batches_tracked");
  CHECK(buffers[2].value->rank() == 0);
  CHECK((*buffers[1].value)[63] == 1.f);

  BatchNorm1d<float> bn1(BatchNorm1dOptions(4).eps(1e-3).momentum(std::nullopt).affine(false));
  CHECK(bn1.describe() ==
        "BatchNorm1d(4, eps=0.001, momentum=None, affine=False, track_running_stats=True)");
  CHECK(bn1.parameters().empty());
  CHECK(bn1.buffers().size() == 3);

  CHECK(BatchNorm2d<float>(BatchNorm2dOptions(2).momentum(1)).describe() ==
        "BatchNorm2d(2, eps=1e-05, momentum=1.0, affine=True, track_running_stats=True)");
  InstanceNorm2d<float> in(3);
  CHECK(in.describe() ==
        "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)");
  CHECK(in.parameters().empty());
  CHECK(in.buffers().empty());
  InstanceNorm2d<float> in_affine(InstanceNorm2dOptions(3).affine(true).track_running_stats(true));
  CHECK(in_affine.parameters().size() == 2);
  CHECK(in_affine.buffers().size() == 3);
}

TEST_CASE("normalization infers num_features in build()", "[norm]") {
  BatchNorm2d<float> bn;
  CHECK(bn.parameters().empty());
  CHECK(bn.build({5, 4, 4}) == Shape{5, 4, 4});
  CHECK(bn.num_features() == 5);
  CHECK(bn.parameters().size() == 2);
  CHECK(bn.parameters()[0].value->shape() == Shape{5});
  CHECK(bn.build({5, 4, 4}) == Shape{5, 4, 4});  // idempotent
  CHECK(bn.describe().rfind("BatchNorm2d(5, ", 0) == 0);
  BatchNorm1d<float> bn1;
  Tensor<float> x({4, 3}, 1.f);
  CHECK(bn1.forward(x).shape() == Shape{4, 3});  // forward builds a layer never built
  CHECK(bn1.num_features() == 3);
}

TEST_CASE("normalization rejects bad input with clear messages", "[norm]") {
  BatchNorm2d<float> bn(3);
  auto msg = what_of<ShapeError>([&] { bn.build({4, 5, 5}); });
  CHECK_THAT(msg, Catch::Contains("BatchNorm2d(3,") && Catch::Contains("expected 3 channels") &&
                      Catch::Contains("[4, 5, 5]"));
  msg = what_of<ShapeError>([&] { bn.build({3, 5}); });
  CHECK_THAT(msg, Catch::Contains("[C, H, W]") && Catch::Contains("[3, 5]"));
  Tensor<float> x2({2, 3, 5});
  msg = what_of<ShapeError>([&] { bn.forward(x2); });
  CHECK_THAT(msg, Catch::Contains("[N, C, H, W]") && Catch::Contains("[2, 3, 5]"));
  Tensor<float> x4({2, 4, 5, 5});
  msg = what_of<ShapeError>([&] { bn.forward(x4); });
  CHECK_THAT(msg, Catch::Contains("expected 3 channels") && Catch::Contains("[2, 4, 5, 5]"));

  // One value per channel cannot give a batch variance in training.
  BatchNorm1d<float> bn1(3);
  Tensor<float> one({1, 3}, 1.f);
  msg = what_of<ShapeError>([&] { bn1.forward(one); });
  CHECK_THAT(msg, Catch::Contains("more than 1 value per channel") && Catch::Contains("[1, 3]"));
  bn1.eval();
  CHECK_NOTHROW(bn1.forward(one));  // eval uses the running statistics
  InstanceNorm2d<float> in(2);
  Tensor<float> pixel({4, 2, 1, 1}, 1.f);
  msg = what_of<ShapeError>([&] { in.forward(pixel); });
  CHECK_THAT(msg, Catch::Contains("InstanceNorm2d") && Catch::Contains("[4, 2, 1, 1]"));

  msg = what_of<Error>([] { BatchNorm2d<float> b(BatchNorm2dOptions(3).momentum(1.5)); });
  CHECK_THAT(msg, Catch::Contains("momentum must be in [0, 1]"));
  msg = what_of<Error>([] { BatchNorm2d<float> b(BatchNorm2dOptions(3).eps(0)); });
  CHECK_THAT(msg, Catch::Contains("eps must be positive"));
  msg = what_of<Error>([] { InstanceNorm2d<float> b(InstanceNorm2dOptions(3).momentum(std::nullopt)); });
  CHECK_THAT(msg, Catch::Contains("BatchNorm only"));

  BatchNorm2d<float> fresh(3);
  Tensor<float> dy({2, 3, 4, 4});
  msg = what_of<Error>([&] { fresh.backward(dy); });
  CHECK_THAT(msg, Catch::Contains("before forward"));
  Tensor<float> x({2, 3, 4, 4}, 0.5f);
  fresh.forward(x);
  Tensor<float> bad({2, 3, 4, 5});
  msg = what_of<ShapeError>([&] { fresh.backward(bad); });
  CHECK_THAT(msg, Catch::Contains("[2, 3, 4, 5]") && Catch::Contains("[2, 3, 4, 4]"));
}

TEST_CASE("normalization gradients", "[norm][gradcheck]") {
  SECTION("BatchNorm2d train, affine, odd sizes") {
    BatchNorm2d<double> bn(3);
    testing::check_module_gradients(bn, {3, 3, 5, 3});
  }
  SECTION("BatchNorm2d train, no affine") {
    BatchNorm2d<double> bn(BatchNorm2dOptions().affine(false));
    testing::check_module_gradients(bn, {2, 4, 3, 3});
  }
  SECTION("BatchNorm2d eval with running statistics") {
    BatchNorm2d<double> bn(3);
    set_running_stats(bn);
    bn.eval();
    testing::check_module_gradients(bn, {2, 3, 3, 5});
  }
  SECTION("BatchNorm2d eval without running statistics uses the batch's") {
    BatchNorm2d<double> bn(BatchNorm2dOptions(2).track_running_stats(false));
    bn.eval();
    testing::check_module_gradients(bn, {3, 2, 2, 3});
  }
  SECTION("BatchNorm1d [N, C] train and eval") {
    BatchNorm1d<double> bn(5);
    testing::check_module_gradients(bn, {7, 5});
    set_running_stats(bn);
    bn.eval();
    testing::check_module_gradients(bn, {7, 5});
  }
  SECTION("BatchNorm1d [N, C, L] train and eval") {
    BatchNorm1d<double> bn(BatchNorm1dOptions().eps(1e-3));
    testing::check_module_gradients(bn, {3, 4, 5});
    bn.eval();
    testing::check_module_gradients(bn, {3, 4, 5});
  }
  SECTION("InstanceNorm2d default and affine") {
    InstanceNorm2d<double> in;
    testing::check_module_gradients(in, {3, 2, 3, 5});
    InstanceNorm2d<double> in_affine(InstanceNorm2dOptions(3).affine(true));
    testing::check_module_gradients(in_affine, {2, 3, 5, 3});
    in_affine.eval();  // no running statistics: eval still uses the sample's statistics
    testing::check_module_gradients(in_affine, {2, 3, 5, 3});
  }
  SECTION("InstanceNorm2d eval with running statistics") {
    InstanceNorm2d<double> in(InstanceNorm2dOptions(3).affine(true).track_running_stats(true));
    set_running_stats(in);
    in.eval();
    testing::check_module_gradients(in, {2, 3, 3, 4});
  }
}

TEST_CASE("normalization backward accumulates and can skip the input gradient", "[norm]") {
  BatchNorm2d<double> bn(2);
  Rng rng(5);
  Tensor<double> x({3, 2, 3, 3}), dy({3, 2, 3, 3});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  bn.forward(x);
  const Tensor<double> dx = bn.backward(dy);
  const Tensor<double> dw = *bn.parameters()[0].grad;
  CHECK(std::abs(dw[0]) > 0);
  bn.set_input_grad(false);
  bn.forward(x);
  CHECK(bn.backward(dy).empty());
  CHECK((*bn.parameters()[0].grad)[0] == Approx(2 * dw[0]));
  CHECK((*bn.parameters()[0].grad)[1] == Approx(2 * dw[1]));
  CHECK(dx.shape() == x.shape());
}

TEST_CASE("normalization results do not depend on the thread count", "[norm]") {
  Rng rng(9);
  Tensor<float> x({8, 6, 24, 24}), dy({8, 6, 24, 24});
  x.fill_normal(rng, 0.3, 1.2);
  dy.fill_uniform(rng, -1, 1);
  auto run = [&](int threads, auto& layer) {
    omp_set_num_threads(threads);
    Tensor<float> y = layer.forward(x);
    Tensor<float> dx = layer.backward(dy);
    Tensor<float> dw = *layer.parameters()[0].grad;
    return std::make_tuple(y, dx, dw);
  };
  const int saved = omp_get_max_threads();
  BatchNorm2d<float> a(6), b(6);
  InstanceNorm2d<float> ia(InstanceNorm2dOptions(6).affine(true)), ib(InstanceNorm2dOptions(6).affine(true));
  auto r1 = run(1, a);
  auto r2 = run(4, b);
  auto i1 = run(1, ia);
  auto i2 = run(3, ib);
  omp_set_num_threads(saved);
  CHECK(max_abs_diff(std::get<0>(r1), std::get<0>(r2)) == 0.f);
  CHECK(max_abs_diff(std::get<1>(r1), std::get<1>(r2)) == 0.f);
  CHECK(max_abs_diff(std::get<2>(r1), std::get<2>(r2)) == 0.f);
  CHECK(max_abs_diff(a.running_var(), b.running_var()) == 0.f);
  CHECK(max_abs_diff(std::get<0>(i1), std::get<0>(i2)) == 0.f);
  CHECK(max_abs_diff(std::get<1>(i1), std::get<1>(i2)) == 0.f);
  CHECK(max_abs_diff(std::get<2>(i1), std::get<2>(i2)) == 0.f);
}

TEST_CASE("normalization parity with PyTorch", "[norm][parity]") {
  testing::check_parity_cases("norm", []<typename T>(const testing::Fixture& f) {
    return make_norm<T>(f);
  });
}
