// No heap allocation per batch in steady state (module.hpp's contract): after
// a few warm-up steps, a training step (zero_grad, forward, loss, backward,
// Adam) and an inference step of networks that use every layer kind allocate
// nothing.
//
// The test program's own malloc family shadows libc's (the executable's symbols
// come first in the dynamic lookup) and forwards to glibc's, counting calls
// while counting is on. libstdc++'s operator new and cae's Tensor
// (std::aligned_alloc) both end up there. libgomp's own allocations are left
// out: it allocates a thread "team" for every parallel region that runs on one
// thread (1 thread in all, or a false `if` clause) and frees it at the end,
// which no caller can avoid short of skipping the region.
#include <catch2/catch.hpp>

#include <link.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "cae/layers/activation.hpp"
#include "cae/layers/conv.hpp"
#include "cae/layers/linear.hpp"
#include "cae/layers/norm.hpp"
#include "cae/layers/pool.hpp"
#include "cae/layers/reshape.hpp"
#include "cae/layers/residual.hpp"
#include "cae/layers/sequential.hpp"
#include "cae/layers/upsample.hpp"
#include "cae/losses.hpp"
#include "cae/optim/adam.hpp"
#include "cae/parallel.hpp"

// Sanitizers bring their own malloc; the hook would bypass it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CAE_ALLOCATION_HOOK 0
#else
#define CAE_ALLOCATION_HOOK 1
#endif

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
std::uintptr_t openmp_begin = 0, openmp_end = 0;  // libgomp's code

[[maybe_unused]] void count(void* caller) {
  if (!counting.load(std::memory_order_relaxed)) return;
  const auto at = reinterpret_cast<std::uintptr_t>(caller);
  if (at >= openmp_begin && at < openmp_end) return;
  allocations.fetch_add(1, std::memory_order_relaxed);
}

void find_openmp_runtime() {
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void*) {
        if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libgomp")) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            openmp_begin = info->dlpi_addr + ph.p_vaddr;
            openmp_end = openmp_begin + ph.p_memsz;
          }
        }
        return 1;
      },
      nullptr);
}

// Heap allocations made by f (libgomp's excepted).
long allocations_during(const std::function<void()>& f) {
  find_openmp_runtime();
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations.load();
}
}  // namespace

#if CAE_ALLOCATION_HOOK
extern "C" {
void* malloc(size_t n) {
  count(__builtin_return_address(0));
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  count(__builtin_return_address(0));
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  count(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  count(__builtin_return_address(0));
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

using namespace cae;

namespace {

// Every layer kind on the way: conv, pools (small window and running max),
// norms, upsampling both ways, transposed conv, a residual block with a
// projection, activations, flatten/linear/reshape.
std::unique_ptr<Sequential<float>> mixed_autoencoder() {
  auto m = std::make_unique<Sequential<float>>(Shape{3, 32, 32});
  m->add(Conv2d<float>(Conv2dOptions(3, 16, 3).stride(2).padding(1)));  // 16x16x16
  m->add(ReLU<float>());
  m->add(MaxPool2d<float>(MaxPool2dOptions(3).stride(1)));              // 16x14x14
  m->add(InstanceNorm2d<float>(16));
  m->add(MaxPool2d<float>(MaxPool2dOptions(6).stride(1).padding(2)));   // running max: 16x13x13
  m->add(Upsample<float>(UpsampleOptions().size(14).mode(UpsampleMode::Bilinear)));
  m->add(Residual<float>::bottleneck(16, 8, 32, 2));                    // 32x7x7
  m->add(Flatten<float>());
  m->add(Linear<float>(32 * 7 * 7, 64));
  m->add(Tanh<float>());
  m->add(Linear<float>(64, 8 * 8 * 8));
  m->add(LeakyReLU<float>(0.1));
  m->add(Reshape<float>({8, 8, 8}));
  m->add(Upsample<float>(UpsampleOptions().scale_factor(2)));           // 8x16x16
  m->add(BatchNorm2d<float>(8));
  m->add(ConvTranspose2d<float>(ConvTranspose2dOptions(8, 3, 3).stride(2).padding(1).output_padding(1)));
  m->add(Sigmoid<float>());                                             // 3x32x32
  return m;
}

template <typename LossType>
long steady_state_allocations(Sequential<float>& model, Tensor<float>& x, Tensor<float>& target,
                              bool train) {
  LossType loss;
  model.set_input_grad(false);
  model.train(train);
  optim::Adam<float> adam(model.parameters());
  auto step = [&] {
    if (train) {
      adam.zero_grad();
      const Tensor<float>& y = model.forward(x);
      loss.forward(y, target);
      model.backward(loss.backward());
      adam.step();
    } else {
      model.forward(x);
    }
  };
  for (int i = 0; i < 3; ++i) step();  // buffers grow to size here
  return allocations_during([&] {
    for (int i = 0; i < 3; ++i) step();
  });
}

}  // namespace

TEST_CASE("the counting hook sees allocations", "[no_alloc]") {
  if (!CAE_ALLOCATION_HOOK) {
    WARN("allocation hook disabled under a sanitizer; the no-allocation tests check nothing");
    return;
  }
  CHECK(allocations_during([] { Tensor<float> t({1000}); }) >= 1);
  CHECK(allocations_during([] {
          std::vector<int> v(100);
          asm volatile("" : : "r"(v.data()) : "memory");  // keeps the allocation
        }) == 1);
  CHECK(allocations_during([] {}) == 0);
}

TEST_CASE("training and inference steps allocate nothing once warmed up", "[no_alloc]") {
  if (!CAE_ALLOCATION_HOOK) return;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    INFO(threads << " thread(s)");
    manual_seed(0);
    auto model = mixed_autoencoder();
    Tensor<float> x({16, 3, 32, 32});
    Rng rng(5);
    x.fill_uniform(rng, 0.f, 1.f);
    CHECK(steady_state_allocations<BCELoss<float>>(*model, x, x, true) == 0);
    CHECK(steady_state_allocations<MSELoss<float>>(*model, x, x, true) == 0);
    CHECK(steady_state_allocations<MSELoss<float>>(*model, x, x, false) == 0);
  }
  set_num_threads(2);
}

TEST_CASE("a classifier step with cross-entropy allocates nothing once warmed up", "[no_alloc]") {
  if (!CAE_ALLOCATION_HOOK) return;
  manual_seed(1);
  Sequential<float> net(Shape{3, 32, 32});
  net.add(Conv2d<float>(Conv2dOptions(3, 6, 5)));
  net.add(ReLU<float>());
  net.add(MaxPool2d<float>(2));
  net.add(Conv2d<float>(Conv2dOptions(6, 16, 5)));
  net.add(ReLU<float>());
  net.add(MaxPool2d<float>(2));
  net.add(Flatten<float>());
  net.add(Linear<float>(400, 120));
  net.add(ReLU<float>());
  net.add(Linear<float>(120, 10));
  Tensor<float> x({64, 3, 32, 32}), labels({64});
  Rng rng(2);
  x.fill_uniform(rng, 0.f, 1.f);
  for (auto& l : labels) l = static_cast<float>(rng.below(10));
  CHECK(steady_state_allocations<CrossEntropyLoss<float>>(net, x, labels, true) == 0);
}
