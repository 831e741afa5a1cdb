#include <catch2/catch.hpp>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/residual.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

namespace {

template <typename T>
Conv2d<T> conv(index_t in, index_t out, index_t k, index_t stride) {
  return Conv2d<T>(Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// The recipes of tests/fixturegen/gen_residual.py; "basic" and "bottleneck" are
// the library's helpers, so the parity test checks them against PyTorch.
template <typename T>
std::unique_ptr<Residual<T>> make_block(const std::string& block, index_t in, index_t mid,
                                        index_t out, index_t stride, bool activation) {
  Sequential<T> body, shortcut;
  if (block == "bn_tanh") {
    body.add(BatchNorm2d<T>(in));
    body.add(Tanh<T>());
    body.add(BatchNorm2d<T>(in));
  } else if (block == "bn_tanh_shortcut") {
    body.add(BatchNorm2d<T>(in));
    body.add(Tanh<T>());
    shortcut.add(BatchNorm2d<T>(BatchNorm2dOptions(in).affine(false)));
    shortcut.add(Tanh<T>());
  } else if (block == "basic" || block == "bottleneck") {
    Residual<T> b = block == "basic" ? Residual<T>::basic_block(in, out, stride)
                                     : Residual<T>::bottleneck(in, mid, out, stride);
    if (activation) return std::make_unique<Residual<T>>(std::move(b));
    return std::make_unique<Residual<T>>(std::move(b.body()), std::move(b.shortcut()), nullptr);
  } else {
    FAIL("unknown block " << block);
  }
  return std::make_unique<Residual<T>>(std::move(body), std::move(shortcut),
                                       activation ? std::make_unique<ReLU<T>>() : nullptr);
}

// Non-trivial running statistics for every BatchNorm of a block.
void randomize_running_stats(Module<double>& m) {
  Rng rng(3);
  for (auto& b : m.buffers()) {
    if (b.name.find("running_mean") != std::string::npos) b.value->fill_uniform(rng, -0.3, 0.3);
    if (b.name.find("running_var") != std::string::npos) b.value->fill_uniform(rng, 0.5, 1.5);
  }
}

std::vector<std::string> names(const std::vector<Parameter<float>>& ps) {
  std::vector<std::string> out;
  for (auto& p : ps) out.push_back(p.name);
  return out;
}

}  // namespace

TEST_CASE("residual adds the body to the shortcut, then activates", "[residual]") {
  Sequential<double> body;
  body.add(Tanh<double>());
  Residual<double> block(std::move(body));
  CHECK(block.describe() == "Residual(shortcut=identity, activation=ReLU())");
  CHECK(block.identity_shortcut());
  auto x = Tensor<double>::from({1, 4}, {-2.0, -0.1, 0.3, 1.5});
  CHECK(block.build({4}) == Shape{4});
  const auto& y = block.forward(x);
  for (index_t i = 0; i < 4; ++i) CHECK(y[i] == Approx(std::max(0.0, x[i] + std::tanh(x[i]))));
  // d/dx relu(x + tanh x) = (1 + 1 - tanh^2) where the sum is positive.
  Tensor<double> dy({1, 4}, 1.0);
  const auto& dx = block.backward(dy);
  CHECK(dx[0] == 0.0);
  CHECK(dx[3] == Approx(2 - std::tanh(1.5) * std::tanh(1.5)));

  Sequential<double> body2, shortcut2;
  body2.add(Tanh<double>());
  shortcut2.add(Sigmoid<double>());
  Residual<double> plain(std::move(body2), std::move(shortcut2), nullptr);
  CHECK(plain.describe() == "Residual(shortcut=projection, activation=None)");
  const auto& z = plain.forward(x);
  CHECK(z[0] == Approx(std::tanh(-2.0) + 1 / (1 + std::exp(2.0))));
}

TEST_CASE("residual names parameters and buffers like PyTorch", "[residual]") {
  auto block = make_block<float>("basic", 3, 0, 4, 2, true);
  CHECK(names(block->parameters()) ==
        std::vector<std::string>{"body.0.weight", "body.1.weight", "body.1.bias", "body.3.weight",
                                 "body.4.weight", "body.4.bias", "shortcut.0.weight",
                                 "shortcut.1.weight", "shortcut.1.bias"});
  auto buffers = block->buffers();
  REQUIRE(buffers.size() == 9);
  CHECK(buffers[0].name == "body.1.running_mean");
  CHECK(buffers[8].name == "shortcut.1.num_batches_tracked");
  CHECK(block->build({3, 8, 7}) == Shape{4, 4, 4});
}

TEST_CASE("residual block helpers build ResNet blocks", "[residual]") {
  auto same = Residual<float>::basic_block(8, 8);
  CHECK(same.identity_shortcut());
  CHECK(same.body().size() == 5);
  CHECK(same.build({8, 6, 6}) == Shape{8, 6, 6});
  CHECK(same.num_parameters() == 2 * 8 * 8 * 9 + 2 * 2 * 8);
  auto down = Residual<float>::basic_block(8, 16, 2);
  CHECK(!down.identity_shortcut());
  CHECK(down.build({8, 7, 7}) == Shape{16, 4, 4});
  CHECK(down.shortcut()[0].describe() ==
        "Conv2d(8, 16, kernel_size=(1, 1), stride=(2, 2), bias=False)");
  auto neck = Residual<float>::bottleneck(16, 4, 16);
  CHECK(neck.identity_shortcut());
  CHECK(neck.body().size() == 8);
  CHECK(neck.build({16, 5, 5}) == Shape{16, 5, 5});
  auto neck2 = Residual<float>::bottleneck(16, 4, 32, 2);
  CHECK(neck2.build({16, 5, 5}) == Shape{32, 3, 3});
  CHECK_THROWS_WITH(Residual<float>::basic_block(0, 8), Catch::Contains("basic_block") &&
                                                          Catch::Contains("positive, got 0"));
  CHECK_THROWS_WITH(Residual<float>::bottleneck(8, 2, 8, 0), Catch::Contains("stride"));
}

TEST_CASE("residual checks that body and shortcut agree", "[residual]") {
  Sequential<float> body;
  body.add(conv<float>(3, 8, 3, 2));
  Residual<float> block(std::move(body));
  try {
    block.build({3, 8, 8});
    FAIL("no ShapeError");
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("Residual(shortcut=identity") &&
                        Catch::Contains("[-1, 8, 4, 4]") && Catch::Contains("[-1, 3, 8, 8]") &&
                        Catch::Contains("projection"));
  }
  // A projection with the wrong stride is caught too.
  Sequential<float> body2, shortcut2;
  body2.add(conv<float>(3, 8, 3, 2));
  shortcut2.add(conv<float>(3, 8, 1, 1));
  Residual<float> wrong(std::move(body2), std::move(shortcut2));
  CHECK_THROWS_AS(wrong.build({3, 8, 8}), ShapeError);
  CHECK_THROWS_WITH(wrong.build({3, 8, 8}),
                    Catch::Contains("[-1, 8, 4, 4]") && Catch::Contains("[-1, 8, 8, 8]"));
  // A body that cannot take the input says where it failed.
  auto basic = make_block<float>("basic", 3, 0, 3, 1, true);
  CHECK_THROWS_WITH(basic->build({5, 8, 8}), Catch::Contains("body") && Catch::Contains("Sequential layer 0"));
  Tensor<float> x({2, 5, 8, 8});
  CHECK_THROWS_AS(basic->forward(x), ShapeError);
  Residual<float> fresh(Sequential<float>{});
  Tensor<float> dy({1, 2});
  CHECK_THROWS_WITH(fresh.backward(dy), Catch::Contains("before forward"));
}

TEST_CASE("residual summary indents its children", "[residual]") {
  Sequential<float> net(Shape{3, 8, 8});
  net.add(conv<float>(3, 4, 3, 1));
  net.add(std::move(*make_block<float>("basic", 4, 0, 6, 2, true)));
  std::vector<SummaryRow> rows;
  net.summarize(Shape{3, 8, 8}, 0, rows);
  REQUIRE(rows.size() == 2 + 5 + 2 + 1);
  CHECK(rows[1].depth == 0);
  CHECK(rows[1].layer == "Residual(shortcut=projection, activation=ReLU())");
  CHECK(rows[1].output == Shape{6, 4, 4});
  CHECK(rows[1].num_parameters == 0);
  CHECK(rows[2].depth == 1);
  CHECK(rows[2].layer.rfind("Conv2d(4, 6", 0) == 0);
  CHECK(rows[3].layer.rfind("BatchNorm2d(6", 0) == 0);
  CHECK(rows[7].depth == 1);
  CHECK(rows[7].layer.rfind("shortcut: Conv2d(4, 6, kernel_size=(1, 1)", 0) == 0);
  CHECK(rows[8].layer.rfind("shortcut: BatchNorm2d(6", 0) == 0);
  CHECK(rows[9].layer == "activation: ReLU()");
  index_t total = 0;
  for (auto& r : rows) total += r.num_parameters;
  CHECK(total == net.num_parameters());
  const std::string text = net.summary();
  CHECK_THAT(text, Catch::Contains("\n  shortcut: Conv2d(4, 6"));
  CHECK_THAT(text, Catch::Contains("Total params: " + std::to_string(net.num_parameters())));
}

TEST_CASE("residual propagates training mode and input-gradient switch", "[residual]") {
  auto block = make_block<double>("bn_tanh_shortcut", 2, 0, 2, 1, true);
  Sequential<double> net(Shape{2, 3, 3});
  auto& r = net.add(std::move(*block));
  net.eval();
  CHECK(!r.body()[0].is_training());
  CHECK(!r.shortcut()[0].is_training());
  net.train();
  CHECK(r.body()[0].is_training());

  Rng rng(2);
  Tensor<double> x({2, 2, 3, 3}), dy({2, 2, 3, 3});
  x.fill_uniform(rng, -1, 1);
  dy.fill_uniform(rng, -1, 1);
  net.zero_grad();
  net.forward(x);
  const Tensor<double> dx = net.backward(dy);
  CHECK(dx.shape() == x.shape());
  const Tensor<double> g1 = *net.parameters()[0].grad;
  net.set_input_grad(false);
  net.forward(x);
  CHECK(net.backward(dy).empty());
  CHECK((*net.parameters()[0].grad)[1] == Approx(2 * g1[1]));
}

TEST_CASE("residual gradients", "[residual][gradcheck]") {
  SECTION("BatchNorm + Tanh bodies, identity and non-trivial shortcut, train and eval") {
    for (const char* kind : {"bn_tanh", "bn_tanh_shortcut"}) {
      for (bool act : {true, false}) {
        auto block = make_block<double>(kind, 3, 0, 3, 1, act);
        testing::check_module_gradients(*block, {3, 3, 2, 3});
        randomize_running_stats(*block);
        block->eval();
        testing::check_module_gradients(*block, {2, 3, 3, 3});
      }
    }
  }
  SECTION("basic block, identity shortcut") {
    auto block = make_block<double>("basic", 3, 0, 3, 1, true);
    testing::check_module_gradients(*block, {2, 3, 5, 4});
    randomize_running_stats(*block);
    block->eval();
    testing::check_module_gradients(*block, {2, 3, 5, 4});
  }
  SECTION("basic block, 1x1 conv + BatchNorm projection, stride 2") {
    auto block = make_block<double>("basic", 2, 0, 4, 2, true);
    testing::check_module_gradients(*block, {2, 2, 5, 6});
    randomize_running_stats(*block);
    block->eval();
    testing::check_module_gradients(*block, {2, 2, 5, 6});
  }
  SECTION("bottleneck block, stride 2, no activation") {
    auto block = make_block<double>("bottleneck", 4, 2, 5, 2, false);
    testing::check_module_gradients(*block, {2, 4, 5, 5});
  }
}

TEST_CASE("residual parity with PyTorch", "[residual][parity]") {
  testing::check_parity_cases("residual", []<typename T>(const testing::Fixture& f) {
    std::unique_ptr<Module<T>> m = make_block<T>(
        f.config_string("block"), f.config_int("in_channels"), f.config_int("mid_channels"),
        f.config_int("out_channels"), f.config_int("stride"), f.config_bool("activation"));
    return m;
  });
}
