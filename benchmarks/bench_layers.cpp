// bench_layers: Google Benchmark micro-benchmarks of cae's layers, forward and
// backward, at the shapes the papers' models use (docs/models.md):
//
//   000  Conv2d 3->6 (3x3, stride 2) on 3x320x320, Conv2d 6->12 on 6x158x158,
//        ConvTranspose2d 12->6 on 12x79x79 and 6->3 on 6x160x160, batch 15;
//        InstanceNorm2d on 3x320x320; 3x3 and 59x59 stride-1 max pools; the
//        bilinear resize 158 -> 160; the residual block's convolutions at
//        512-2048 channels on 12x12 (1x1, the 2x2 stride-2 ones, and a 3x3)
//        and BatchNorm2d(1024)
//   002  the 28x28 convolutions 128->64 and 64->128, batch 128
//   003  Linear 784 -> 512, batch 128
//
// Counters: "GFLOP/s" (2 per multiply-add of the convolutions and linear
// layers; a backward pass of a layer whose input gradient is computed does
// twice the forward's work) and "elem/s" for the memory-bound layers.
//
// Threads: --threads=N (default 1). At one thread times are the thread's CPU
// time, which a busy machine does not inflate; with more threads, wall time.
//
//   bench_layers [--threads=2] [--benchmark_filter=conv] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/parallel.hpp"
#include "cae/random.hpp"

namespace {

using cae::index_t;
using cae::Shape;
using Layer = cae::Module<float>;

int g_threads = 1;

struct Case {
  std::string name;
  std::function<std::unique_ptr<Layer>()> make;
  Shape input;         // [N, C, H, W] or [N, F]
  double flops = 0;    // forward FLOPs of the batch (0: memory-bound layer)
  double backward_flops_factor = 2;  // backward work / forward work
};

template <typename L>
std::function<std::unique_ptr<Layer>()> maker(L layer) {
  return [layer]() { return std::unique_ptr<Layer>(new L(layer)); };
}

double conv_flops(index_t n, index_t cin, index_t cout, index_t k, index_t out_h, index_t out_w) {
  return 2.0 * n * cin * cout * k * k * out_h * out_w;
}

cae::Conv2d<float> conv(index_t in, index_t out, index_t k, index_t stride, index_t pad, bool bias = true) {
  return cae::Conv2d<float>(cae::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias));
}
cae::ConvTranspose2d<float> deconv(index_t in, index_t out) {
  return cae::ConvTranspose2d<float>(
      cae::ConvTranspose2dOptions(in, out, 3).stride(2).padding(1).output_padding(1));
}

std::vector<Case> cases() {
  using cae::MaxPool2d;
  using cae::MaxPool2dOptions;
  std::vector<Case> c;
  // Paper 000 autoencoders, batch 15.
  c.push_back({"conv3x3s2_3to6_320", maker(conv(3, 6, 3, 2, 1)), {15, 3, 320, 320},
               conv_flops(15, 3, 6, 3, 160, 160)});
  c.push_back({"conv3x3s2_6to12_158", maker(conv(6, 12, 3, 2, 1)), {15, 6, 158, 158},
               conv_flops(15, 6, 12, 3, 79, 79)});
  c.push_back({"deconv3x3s2_12to6_79", maker(deconv(12, 6)), {15, 12, 79, 79},
               conv_flops(15, 6, 12, 3, 79, 79)});
  c.push_back({"deconv3x3s2_6to3_160", maker(deconv(6, 3)), {15, 6, 160, 160},
               conv_flops(15, 3, 6, 3, 160, 160)});
  c.push_back({"instancenorm_3_320", maker(cae::InstanceNorm2d<float>(3)), {15, 3, 320, 320}});
  c.push_back({"instancenorm_6_158", maker(cae::InstanceNorm2d<float>(6)), {15, 6, 158, 158}});
  c.push_back({"maxpool3x3s1_6_160", maker(MaxPool2d<float>(MaxPool2dOptions(3).stride(1))),
               {15, 6, 160, 160}});
  c.push_back({"maxpool59s1_8_158", maker(MaxPool2d<float>(MaxPool2dOptions(59).stride(1))),
               {15, 8, 158, 158}});
  c.push_back({"bilinear_158to160_6",
               maker(cae::Upsample<float>(
                   cae::UpsampleOptions().size(160).mode(cae::UpsampleMode::Bilinear))),
               {15, 6, 158, 158}});
  c.push_back({"sigmoid_3_320", maker(cae::Sigmoid<float>()), {15, 3, 320, 320}});
  // Paper 000 residual block 14 (512x12x12 -> 2048x6x6) and a ResNet-style 3x3.
  c.push_back({"conv1x1_512to1024_12", maker(conv(512, 1024, 1, 1, 0, false)), {15, 512, 12, 12},
               conv_flops(15, 512, 1024, 1, 12, 12)});
  c.push_back({"conv2x2s2_1024to1024_12", maker(conv(1024, 1024, 2, 2, 0, false)),
               {15, 1024, 12, 12}, conv_flops(15, 1024, 1024, 2, 6, 6)});
  c.push_back({"conv1x1_1024to2048_6", maker(conv(1024, 2048, 1, 1, 0, false)), {15, 1024, 6, 6},
               conv_flops(15, 1024, 2048, 1, 6, 6)});
  c.push_back({"conv2x2s2_512to2048_12", maker(conv(512, 2048, 2, 2, 0, false)), {15, 512, 12, 12},
               conv_flops(15, 512, 2048, 2, 6, 6)});
  c.push_back({"conv3x3_512to512_12", maker(conv(512, 512, 3, 1, 1, false)), {15, 512, 12, 12},
               conv_flops(15, 512, 512, 3, 12, 12)});
  c.push_back({"batchnorm_1024_12", maker(cae::BatchNorm2d<float>(1024)), {15, 1024, 12, 12}});
  // Paper 002, batch 128.
  c.push_back({"conv3x3_128to64_28", maker(conv(128, 64, 3, 1, 1)), {128, 128, 28, 28},
               conv_flops(128, 128, 64, 3, 28, 28)});
  c.push_back({"conv3x3_64to128_28", maker(conv(64, 128, 3, 1, 1)), {128, 64, 28, 28},
               conv_flops(128, 64, 128, 3, 28, 28)});
  // Paper 003, batch 128.
  c.push_back({"linear_784to512", maker(cae::Linear<float>(784, 512)), {128, 784},
               2.0 * 128 * 784 * 512});
  return c;
}

struct Fixture {
  std::unique_ptr<Layer> layer;
  cae::Tensor<float> x, dy;
};

Fixture prepare(const Case& c) {
  cae::set_num_threads(g_threads);
  cae::manual_seed(0);
  Fixture f;
  f.layer = c.make();
  f.layer->train();
  f.layer->set_input_grad(true);  // a layer inside a network
  cae::Rng rng(1);
  f.x = cae::Tensor<float>(c.input);
  f.x.fill_uniform(rng, -1.0f, 1.0f);
  const auto& y = f.layer->forward(f.x);
  f.dy = cae::Tensor<float>(y.shape());
  f.dy.fill_uniform(rng, -1.0f, 1.0f);
  return f;
}

void report(benchmark::State& state, const Case& c, double flops) {
  const double elements = static_cast<double>(c.input.numel());
  state.counters["elem/s"] =
      benchmark::Counter(elements, benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = g_threads;
}

void forward(benchmark::State& state, const Case& c) {
  Fixture f = prepare(c);
  for (auto _ : state) benchmark::DoNotOptimize(f.layer->forward(f.x).data());
  report(state, c, c.flops);
}

void backward(benchmark::State& state, const Case& c) {
  Fixture f = prepare(c);
  for (auto _ : state) {
    // Not timed: backward needs the forward state, and the forward must not
    // change x in between.
    state.PauseTiming();
    f.layer->forward(f.x);
    state.ResumeTiming();
    benchmark::DoNotOptimize(f.layer->backward(f.dy).data());
  }
  report(state, c, c.flops * c.backward_flops_factor);
}

}  // namespace

int main(int argc, char** argv) {
  // Our flag first; Google Benchmark then sees only its own.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      g_threads = std::max(1, std::atoi(argv[i] + 10));
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  for (const Case& c : cases()) {
    for (int pass = 0; pass < 2; ++pass) {
      const std::string name = c.name + (pass == 0 ? "/forward" : "/backward");
      auto* b = pass == 0 ? benchmark::RegisterBenchmark(name.c_str(), forward, c)
                          : benchmark::RegisterBenchmark(name.c_str(), backward, c);
      b->Unit(benchmark::kMillisecond);
      if (g_threads > 1) b->UseRealTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
