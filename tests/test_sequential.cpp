#include <catch2/catch.hpp>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/residual.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"
#include "gradcheck.hpp"

using namespace cae;

TEST_CASE("Sequential infers sizes and prints a summary", "[sequential][summary]") {
  Sequential<float> net({3, 32, 32});
  net.add(Conv2d<float>(Conv2dOptions(0, 8, 3).stride(2).padding(1)));  // in_channels inferred
  net.add(BatchNorm2d<float>(0));
  net.add(ReLU<float>());
  net.add(Flatten<float>());
  net.add(Linear<float>(10));
  CHECK(net.output_shape() == Shape{10});
  CHECK(net.num_parameters() == (8 * 3 * 9 + 8) + 16 + (8 * 16 * 16 * 10 + 10));
  const std::string s = net.summary();
  INFO(s);
  CHECK_THAT(s, Catch::Contains("[-1, 8, 16, 16]"));
  CHECK_THAT(s, Catch::Contains("[-1, 2048]"));
  CHECK_THAT(s, Catch::Contains("Linear(in_features=2048, out_features=10"));
  CHECK_THAT(s, Catch::Contains("Total params: 20730"));
  CHECK_THAT(s, Catch::Contains("Input shape: [-1, 3, 32, 32]"));

  auto names = net.parameters();
  REQUIRE(names.size() == 6);
  CHECK(names[0].name == "0.weight");
  CHECK(names[2].name == "1.weight");
  CHECK(names[5].name == "4.bias");
  auto buffers = net.buffers();
  CHECK(buffers.at(0).name == "1.running_mean");
}

TEST_CASE("Sequential rejects a misfit layer while the model is written", "[sequential][errors]") {
  Sequential<float> net({3, 8, 8});
  net.add(Conv2d<float>(Conv2dOptions(3, 4, 3)));
  CHECK_THROWS_WITH(net.add(Conv2d<float>(Conv2dOptions(5, 4, 3))),
                    Catch::Contains("Sequential layer 1") && Catch::Contains("[4, 6, 6]"));
  Sequential<float> small({1, 4, 4});
  CHECK_THROWS_WITH(small.add(Conv2d<float>(Conv2dOptions(1, 1, 5))),
                    Catch::Contains("Sequential layer 0"));
  Tensor<float> wrong({2, 3, 9, 9});
  CHECK_THROWS_WITH(net.forward(wrong), Catch::Contains("expected input [-1, 3, 8, 8]") &&
                                            Catch::Contains("[2, 3, 9, 9]"));
}

TEST_CASE("a small Sequential and a residual network pass the gradient check", "[sequential][gradcheck]") {
  manual_seed(5);
  Sequential<double> net({2, 7, 6});
  net.add(Conv2d<double>(Conv2dOptions(2, 4, 3).padding(1)));
  net.add(BatchNorm2d<double>(4));
  net.add(Tanh<double>());
  net.add(MaxPool2d<double>(MaxPool2dOptions(2).ceil_mode(true)));
  net.add(Upsample<double>(UpsampleOptions().scale_factor(2.0).mode(UpsampleMode::Bilinear)));
  net.add(Residual<double>::basic_block(4, 6, 2));
  net.add(Flatten<double>());
  net.add(Linear<double>(3));
  net.add(Sigmoid<double>());
  testing::check_module_gradients(net, {3, 2, 7, 6});
  net.eval();
  testing::check_module_gradients(net, {2, 2, 7, 6});
}

TEST_CASE("a nested Sequential is built by its parent", "[sequential]") {
  Sequential<float> inner;
  inner.add(Linear<float>(5));
  inner.add(ReLU<float>());
  Sequential<float> outer({7});
  outer.add(std::move(inner));
  outer.add(Linear<float>(2));
  CHECK(outer.output_shape() == Shape{2});
  CHECK(outer.parameters()[0].name == "0.0.weight");
  CHECK(outer.parameters()[0].value->shape() == Shape{5, 7});
}
