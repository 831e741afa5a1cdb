#include <catch2/catch.hpp>

#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "gradcheck.hpp"
#include "parity.hpp"

using namespace cae;

TEST_CASE("Flatten shapes and describe()", "[reshape]") {
  Flatten<float> flat;
  CHECK(flat.describe() == "Flatten(start_dim=1, end_dim=-1)");
  CHECK(flat.build({16, 5, 5}) == Shape{400});
  CHECK(flat.build({7}) == Shape{7});
  Flatten<float> from2(FlattenOptions().start_dim(2));
  CHECK(from2.build({3, 4, 5}) == Shape{3, 20});
  Flatten<float> middle(FlattenOptions().start_dim(1).end_dim(2));
  CHECK(middle.build({3, 4, 5}) == Shape{12, 5});
  CHECK(middle.describe() == "Flatten(start_dim=1, end_dim=2)");
  Flatten<float> negative(FlattenOptions().start_dim(-2));
  CHECK(negative.build({3, 4, 5}) == Shape{3, 20});
}

TEST_CASE("Reshape shapes and describe()", "[reshape]") {
  Reshape<float> unflat({16, 5, 5});
  CHECK(unflat.describe() == "Reshape(16, 5, 5)");
  CHECK(unflat.build({400}) == Shape{16, 5, 5});
  Reshape<float> infer({-1, 4});
  CHECK(infer.build({3, 4, 2}) == Shape{6, 4});
  CHECK(infer.build({8}) == Shape{2, 4});
  CHECK(infer.describe() == "Reshape(-1, 4)");

  Sequential<float> net(Shape{3, 4, 4});
  net.add(Flatten<float>());
  net.add(Reshape<float>({-1, 2, 2}));
  CHECK(net.output_shape() == Shape{12, 2, 2});
}

TEST_CASE("Flatten and Reshape are views: no data is copied", "[reshape]") {
  Rng rng(1);
  Tensor<float> x({2, 3, 4});
  x.fill_uniform(rng, -1.f, 1.f);
  Flatten<float> flat;
  const Tensor<float>& y = flat.forward(x);
  CHECK(y.shape() == Shape{2, 12});
  CHECK(y.data() == x.data());
  Tensor<float> dy({2, 12});
  dy.fill_uniform(rng, -1.f, 1.f);
  const Tensor<float>& dx = flat.backward(dy);
  CHECK(dx.shape() == x.shape());
  CHECK(dx.data() == dy.data());

  Reshape<float> back({3, -1});
  const Tensor<float>& z = back.forward(y);
  CHECK(z.shape() == Shape{2, 3, 4});
  CHECK(z.data() == x.data());
  CHECK(z.at({1, 2, 3}) == x.at({1, 2, 3}));
  // A later forward with another batch size gives a fresh view.
  Tensor<float> x3({3, 3, 4}, 2.f);
  CHECK(flat.forward(x3).shape() == Shape{3, 12});
  CHECK(flat.forward(x3)[35] == 2.f);
}

TEST_CASE("Flatten and Reshape errors name the layer", "[reshape][errors]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(Flatten<float>(FlattenOptions().start_dim(0)).build({3, 4}),
                    Contains("Flatten(start_dim=0, end_dim=-1)") && Contains("batch dimension"));
  CHECK_THROWS_WITH(Flatten<float>(FlattenOptions().start_dim(4)).build({3, 4}),
                    Contains("out of range") && Contains("[-1, 3, 4]"));
  CHECK_THROWS_WITH(Flatten<float>(FlattenOptions().start_dim(2).end_dim(1)).build({3, 4}),
                    Contains("start_dim comes after end_dim"));
  CHECK_THROWS_WITH(Reshape<float>({-1, -1}), Contains("Reshape(-1, -1)") &&
                                                  Contains("only one dimension can be inferred"));
  CHECK_THROWS_WITH(Reshape<float>({-2, 3}), Contains("invalid dimension -2"));
  CHECK_THROWS_WITH(Reshape<float>({5, 5}).build({16}),
                    Contains("Reshape(5, 5)") && Contains("cannot view [-1, 16]") &&
                        Contains("[-1, 5, 5]"));
  CHECK_THROWS_WITH(Reshape<float>({-1, 3}).build({16}), Contains("cannot view [-1, 16]"));
  Flatten<float> flat;
  Tensor<float> x({2, 3, 4});
  flat.forward(x);
  Tensor<float> wrong({2, 13});
  CHECK_THROWS_WITH(flat.backward(wrong), Contains("gradient shape [2, 13]"));
}

TEST_CASE("Flatten and Reshape gradients", "[reshape][gradcheck]") {
  Flatten<double> flat;
  testing::check_module_gradients(flat, {2, 3, 4, 5});
  Flatten<double> middle(FlattenOptions().start_dim(2).end_dim(3));
  testing::check_module_gradients(middle, {2, 3, 4, 5});
  Reshape<double> reshape({-1, 4});
  testing::check_module_gradients(reshape, {2, 3, 4, 2});
}

TEST_CASE("Flatten and Reshape parity with PyTorch", "[reshape][parity]") {
  testing::check_parity_cases("flatten", []<typename T>(const testing::Fixture& f) {
    return std::make_unique<Flatten<T>>(
        FlattenOptions().start_dim(f.config_int("start_dim")).end_dim(f.config_int("end_dim")));
  });
  testing::check_parity_cases("reshape", []<typename T>(const testing::Fixture& f) {
    std::vector<index_t> shape;
    for (const auto& d : f.config["shape"].as_array())
      shape.push_back(static_cast<index_t>(d.as_number()));
    return std::make_unique<Reshape<T>>(shape);
  });
}
