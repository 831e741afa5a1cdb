// Writes the raw bits of outputs and gradients of layers that exercise every
// convolution and pooling path, and of a few training steps, to one file, so
// two versions of the library can be compared byte for byte (cmp). Built by
// hand, not by CMake:
//   g++ -std=c++17 -O3 -DNDEBUG -march=native -fopenmp -DEIGEN_DONT_PARALLELIZE \
//     -Iinclude -I/usr/include/eigen3 -I/usr/include/stb tests/golden/dump_numerics.cpp -o dump
//   OMP_NUM_THREADS=2 ./dump out.bin
#include <cstdio>
#include <memory>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/random.hpp"

using namespace cae;

static std::FILE* out;

static void dump(const Tensor<float>& t) { std::fwrite(t.data(), sizeof(float), t.numel(), out); }

static Tensor<float> random_tensor(Shape s, std::uint64_t seed) {
  Tensor<float> t(s);
  Rng g(seed);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(g.uniform() * 2 - 1);
  return t;
}

// forward, backward with a fixed dy (twice, so accumulation shows), all gradients.
static void run(Module<float>& m, Shape in, std::uint64_t seed) {
  Tensor<float> x = random_tensor(in, seed);
  const Tensor<float>& y = m.forward(x);
  dump(y);
  Tensor<float> dy = random_tensor(y.shape(), seed + 1);
  for (int rep = 0; rep < 2; ++rep) {
    const Tensor<float>& dx = m.backward(dy);
    if (dx.numel() > 1) dump(dx);
  }
  for (auto& p : m.parameters()) dump(*p.grad);
}

int main(int argc, char** argv) {
  out = std::fopen(argv[1], "wb");
  manual_seed(1);
  {Conv2d<float> c(Conv2dOptions(3, 4, 3)); run(c, {4, 3, 8, 8}, 10);}              // direct
  {Conv2d<float> c(Conv2dOptions(16, 8, 3).padding(1)); run(c, {4, 16, 14, 14}, 11);}  // direct (wide)
  {Conv2d<float> c(Conv2dOptions(32, 32, 3).padding(1)); run(c, {32, 32, 16, 16}, 12);}  // Winograd
  {Conv2d<float> c(Conv2dOptions(8, 32, 3).stride(2)); run(c, {8, 8, 16, 16}, 13);}  // GEMM, many tiles
  {Conv2d<float> c(Conv2dOptions(64, 64, 3).padding(1)); run(c, {2, 64, 12, 12}, 14);}  // GEMM, few tiles
  {Conv2d<float> c(Conv2dOptions(16, 24, 1)); run(c, {3, 16, 20, 20}, 15);}  // pointwise
  {Conv2d<float> c(Conv2dOptions(6, 16, 5).dilation(2).padding(2)); run(c, {5, 6, 17, 15}, 16);}
  {ConvTranspose2d<float> c(ConvTranspose2dOptions(8, 4, 3).stride(2).padding(1).output_padding(1));
   run(c, {4, 8, 7, 7}, 17);}
  {ConvTranspose2d<float> c(ConvTranspose2dOptions(16, 2, 3)); run(c, {4, 16, 9, 9}, 18);}
  {ConvTranspose2d<float> c(ConvTranspose2dOptions(2, 8, 4).stride(2)); run(c, {4, 2, 9, 9}, 19);}
  {ConvTranspose2d<float> c(ConvTranspose2dOptions(48, 40, 3).padding(1)); run(c, {16, 48, 12, 12}, 20);}
  {MaxPool2d<float> p(2); run(p, {4, 3, 10, 10}, 21);}
  {MaxPool2d<float> p(MaxPool2dOptions(7).stride(1)); run(p, {3, 4, 20, 20}, 22);}  // running max
  {MaxPool2d<float> p(MaxPool2dOptions(3).stride(2).padding(1)); run(p, {2, 3, 11, 11}, 23);}
  {AvgPool2d<float> p(AvgPool2dOptions(3).stride(2).padding(1)); run(p, {2, 3, 11, 11}, 24);}
  {Upsample<float> u(UpsampleOptions().scale_factor(2).mode(UpsampleMode::Bilinear)); run(u, {2, 3, 7, 9}, 25);}
  {Upsample<float> u(UpsampleOptions().size(16)); run(u, {2, 3, 7, 9}, 26);}
  {Linear<float> l(LinearOptions(20, 7)); run(l, {5, 20}, 27);}
  {
    manual_seed(2);
    Sequential<float> net({1, 16, 16});
    net.add(Conv2d<float>(Conv2dOptions(1, 8, 3).padding(1)));
    net.add(BatchNorm2d<float>(0));
    net.add(ReLU<float>());
    net.add(MaxPool2d<float>(2));
    net.add(Conv2d<float>(Conv2dOptions(0, 16, 3).padding(1)));
    net.add(ReLU<float>());
    net.add(Upsample<float>(UpsampleOptions().scale_factor(2)));
    net.add(Conv2d<float>(Conv2dOptions(0, 1, 3).padding(1)));
    net.add(Sigmoid<float>());
    optim::Adam<float> opt(net.parameters(), optim::AdamOptions(1e-2));
    MSELoss<float> loss;
    Tensor<float> x = random_tensor({8, 1, 16, 16}, 30);
    for (int step = 0; step < 4; ++step) {
      opt.zero_grad();
      const Tensor<float>& y = net.forward(x);
      loss.forward(y, x);
      net.backward(loss.backward());
      opt.step();
    }
    for (auto& p : net.parameters()) dump(*p.value);
    for (auto& b : net.buffers()) dump(*b.value);
  }
  std::fclose(out);
  return 0;
}
