// The one scratch mechanism (kernels/workspace.hpp): owned by the model,
// released with it, and never shared between models running at the same time.
#include <cstring>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/random.hpp"

using namespace cae;

namespace {

// Two models that between them run every algorithm that uses scratch:
// im2col + GEMM, Winograd, the running max, the packed GEMM of Linear.
std::unique_ptr<Sequential<float>> model_a() {
  auto net = std::make_unique<Sequential<float>>(Shape{8, 16, 16});
  net->add(Conv2d<float>(Conv2dOptions(8, 32, 3).padding(1)));
  net->add(ReLU<float>());
  net->add(Conv2d<float>(Conv2dOptions(32, 32, 3).padding(1)));
  net->add(MaxPool2d<float>(MaxPool2dOptions(5).stride(1)));
  net->add(Flatten<float>());
  net->add(Linear<float>(10));
  return net;
}
std::unique_ptr<Sequential<float>> model_b() {
  auto net = std::make_unique<Sequential<float>>(Shape{3, 20, 20});
  net->add(Conv2d<float>(Conv2dOptions(3, 24, 5).stride(2)));
  net->add(Tanh<float>());
  net->add(Conv2d<float>(Conv2dOptions(24, 40, 1)));
  net->add(Flatten<float>());
  net->add(Linear<float>(5));
  return net;
}

// A few Adam steps on fixed data; returns every parameter's bits.
std::vector<float> train(Sequential<float>& net, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<float> x(net.input_shape()->prepend(32));
  x.fill_uniform(rng, -1.f, 1.f);
  Tensor<float> target(net.output_shape().prepend(32));
  target.fill_uniform(rng, -1.f, 1.f);
  optim::Adam<float> opt(net.parameters(), optim::AdamOptions(1e-3));
  MSELoss<float> loss;
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    loss.forward(net.forward(x), target);
    net.backward(loss.backward());
    opt.step();
  }
  std::vector<float> bits;
  for (auto& p : net.parameters()) bits.insert(bits.end(), p.value->begin(), p.value->end());
  return bits;
}

}  // namespace

TEST_CASE("two models trained at once in two threads give the bits each gives alone",
          "[scratch][threads]") {
  manual_seed(1);
  auto a = model_a();
  manual_seed(2);
  auto b = model_b();
  const std::vector<float> alone_a = train(*a, 10), alone_b = train(*b, 20);

  manual_seed(1);
  auto a2 = model_a();
  manual_seed(2);
  auto b2 = model_b();
  std::vector<float> together_a, together_b;
  std::thread ta([&] { together_a = train(*a2, 10); });
  std::thread tb([&] { together_b = train(*b2, 20); });
  ta.join();
  tb.join();
  REQUIRE(together_a.size() == alone_a.size());
  REQUIRE(together_b.size() == alone_b.size());
  CHECK(std::memcmp(together_a.data(), alone_a.data(), sizeof(float) * alone_a.size()) == 0);
  CHECK(std::memcmp(together_b.data(), alone_b.data(), sizeof(float) * alone_b.size()) == 0);
}

TEST_CASE("a model's scratch is shared by its layers and released when the model goes",
          "[scratch]") {
  std::weak_ptr<Scratch> owned;
  {
    manual_seed(1);
    auto net = model_a();
    owned = net->scratch();
    train(*net, 3);
    REQUIRE(!owned.expired());
    CHECK(owned.lock()->bytes() > 0);
  }
  CHECK(owned.expired());  // freed with the model

  // A user's Scratch: given to a model, sized, released, reused.
  auto mine = std::make_shared<Scratch>();
  {
    manual_seed(1);
    auto net = model_a();
    net->set_scratch(mine);
    const std::vector<float> first = train(*net, 3);
    const std::size_t used = mine->bytes();
    CHECK(used > 0);
    mine->release();
    CHECK(mine->bytes() == 0);
    manual_seed(1);
    auto again = model_a();
    again->set_scratch(mine);
    CHECK(train(*again, 3) == first);  // released scratch grows back, same results
    CHECK(mine->bytes() == used);
  }
  CHECK(mine.use_count() == 1);  // the models held it; only this handle is left
}
