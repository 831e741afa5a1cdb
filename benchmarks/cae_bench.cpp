// cae_bench: times cae on the benchmark models of docs/models.md, the cae side
// of the side-by-side benchmarks against PyTorch (benchmarks/torch_bench.py).
//
//   cae_bench [--threads 1,2] [--models cae_002,...] [--modes train,infer]
//             [--repeats 5] [--repeat-seconds 0.5] [--warmup 2] [--max-seconds 20]
//             [--out results.jsonl] [--profile] [--smoke] [--list]
//
// Like torch_bench.py, every (threads, model, mode) runs in a fresh process
// (this program again, with --worker), so the peak memory of one model does not
// leak into the next, and prints one JSON line on stdout in torch_bench.py's
// schema:
//
//   {"framework": "cae", "model": "cae_002", "threads": 1, "mode": "train",
//    "batch": 128, "images_per_s": ..., "step_ms": ..., "max_rss_mb": ..., ...}
//
// mode "train" is one optimisation step: zero_grad, forward, loss, backward,
// Adam step (the parameter-free max pool: forward, loss, backward); a whole
// model computes no gradient for its input, a lone block or pool does (it
// stands for a layer inside a network). mode "infer" is a forward pass in eval
// mode, for the autoencoders only. images_per_s = batch / median step time over
// --repeats timed repeats of about --repeat-seconds each, after warm-up steps.
// max_rss_mb is the process's peak resident memory (getrusage), baseline_rss_mb
// the peak before the model is built.
//
// The worker also counts heap allocations (malloc, calloc, realloc,
// aligned_alloc, posix_memalign, memalign: operator new and cae's Tensor both
// end up there) during the timed steps: "allocations_per_step" should be 0,
// cae's layers reuse their buffers.
//
// --profile adds, for models that are a flat Sequential, the time of each
// layer's forward and backward pass (stderr). --smoke runs every model and mode
// for two steps of a batch of 4 at 1 thread and checks the output (the CI test).
#include <execinfo.h>
#include <link.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cae/cae.hpp"
#include "paper000_models.hpp"

// ---- allocation counting ------------------------------------------------------
// The program's own malloc family shadows libc's (symbols of the executable come
// first in the dynamic lookup) and forwards to glibc's implementations, counting
// calls while counting is on. libstdc++'s operator new calls malloc, so it is
// counted too. No LD_PRELOAD needed.
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
// libgomp allocates a "team" for every parallel region that runs on one thread
// (an `if` clause that is false, or 1 thread in all) and frees it at the end:
// counted apart, since it is the OpenMP runtime's, not cae's.
std::atomic<long> g_omp_allocations{0};
std::uintptr_t g_omp_begin = 0, g_omp_end = 0;  // libgomp's code, once found
std::atomic<int> g_traces_left{0};  // --trace-allocations: backtraces still to print
thread_local bool t_in_trace = false;

void trace_allocation() {
  if (t_in_trace || g_traces_left.fetch_sub(1) <= 0) return;
  t_in_trace = true;
  void* frames[24];
  const int n = backtrace(frames, 24);
  static const char rule[] = "---- allocation during a timed step:\n";
  if (write(2, rule, sizeof rule - 1) < 0) {}
  backtrace_symbols_fd(frames, n, 2);  // writes without allocating
  t_in_trace = false;
}
inline void count_allocation(void* caller) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  const auto at = reinterpret_cast<std::uintptr_t>(caller);
  if (at >= g_omp_begin && at < g_omp_end) {
    g_omp_allocations.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (g_traces_left.load(std::memory_order_relaxed) > 0) trace_allocation();
}

// Finds the executable segment of libgomp in this process.
void find_openmp_runtime() {
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void*) {
        if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libgomp")) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            g_omp_begin = info->dlpi_addr + ph.p_vaddr;
            g_omp_end = g_omp_begin + ph.p_memsz;
          }
        }
        return 1;
      },
      nullptr);
}
}  // namespace

// Sanitizers bring their own malloc, which the counting versions would bypass.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
extern "C" {
void* malloc(size_t n) {
  count_allocation(__builtin_return_address(0));
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  count_allocation(__builtin_return_address(0));
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  count_allocation(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t alignment, size_t n) {
  count_allocation(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  count_allocation(__builtin_return_address(0));
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  count_allocation(__builtin_return_address(0));
  void* p = __libc_memalign(alignment, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

namespace {

using cae::index_t;
using cae::Shape;
using Model = cae::Sequential<float>;

// ---- the models (docs/models.md; torch_models.py builds the same in PyTorch) ----

enum class LossKind { Mse, Bce, CrossEntropy };

struct Spec {
  std::function<std::unique_ptr<cae::Module<float>>()> build;
  Shape input;  // per sample
  index_t batch;
  LossKind loss;
  index_t classes = 0;
  bool autoencoder = false;
  bool inner_layer = false;  // stands for a layer inside a network: computes dL/dinput
  index_t params = -1;       // the total docs/models.md states
};

void conv3x3_relu(Model& m, index_t in, index_t out) {
  m.add(cae::Conv2d<float>(cae::Conv2dOptions(in, out, 3).padding(1)));
  m.add(cae::ReLU<float>());
}

// Paper 002: 20-layer CAE, 1x28x28 -> 1x7x7 -> 1x28x28, tanh output, MSE.
std::unique_ptr<cae::Module<float>> cae_002() {
  auto m = std::make_unique<Model>(Shape{1, 28, 28});
  conv3x3_relu(*m, 1, 128);
  conv3x3_relu(*m, 128, 64);
  m->add(cae::MaxPool2d<float>(2));
  conv3x3_relu(*m, 64, 32);
  conv3x3_relu(*m, 32, 16);
  conv3x3_relu(*m, 16, 8);
  m->add(cae::MaxPool2d<float>(2));
  conv3x3_relu(*m, 8, 4);
  conv3x3_relu(*m, 4, 2);
  conv3x3_relu(*m, 2, 1);
  conv3x3_relu(*m, 1, 2);
  conv3x3_relu(*m, 2, 4);
  conv3x3_relu(*m, 4, 8);
  m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));
  conv3x3_relu(*m, 8, 16);
  conv3x3_relu(*m, 16, 32);
  conv3x3_relu(*m, 32, 64);
  m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));
  conv3x3_relu(*m, 64, 128);
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(128, 1, 3).padding(1)));
  m->add(cae::Tanh<float>());
  return m;
}

// Paper 001: CIFAR-10 CAE 3x32x32 -> 32x4x4 -> 3x32x32, sigmoid output, MSE.
std::unique_ptr<cae::Module<float>> cae_001() {
  auto m = std::make_unique<Model>(Shape{3, 32, 32});
  const index_t enc[][2] = {{3, 64}, {64, 32}, {32, 32}};
  for (auto& c : enc) {
    conv3x3_relu(*m, c[0], c[1]);
    m->add(cae::MaxPool2d<float>(2));
  }
  const index_t dec[][2] = {{32, 32}, {32, 32}, {32, 64}};
  for (auto& c : dec) {
    conv3x3_relu(*m, c[0], c[1]);
    m->add(cae::Upsample<float>(cae::UpsampleOptions().scale_factor(2)));
  }
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(64, 3, 3).padding(1)));
  m->add(cae::Sigmoid<float>());
  return m;
}

// Paper 001: LeNet-5 with ReLU and max pooling (PyTorch's CIFAR-10 tutorial net).
std::unique_ptr<cae::Module<float>> lenet5_001() {
  auto m = std::make_unique<Model>(Shape{3, 32, 32});
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(3, 6, 5)));
  m->add(cae::ReLU<float>());
  m->add(cae::MaxPool2d<float>(2));
  m->add(cae::Conv2d<float>(cae::Conv2dOptions(6, 16, 5)));
  m->add(cae::ReLU<float>());
  m->add(cae::MaxPool2d<float>(2));
  m->add(cae::Flatten<float>());
  m->add(cae::Linear<float>(400, 120));
  m->add(cae::ReLU<float>());
  m->add(cae::Linear<float>(120, 84));
  m->add(cae::ReLU<float>());
  m->add(cae::Linear<float>(84, 10));
  return m;
}

// Paper 003: dense autoencoder 784-512-512-256-64-784, sigmoid output, BCE.
std::unique_ptr<cae::Module<float>> dense_ae_003() {
  auto m = std::make_unique<Model>(Shape{1, 28, 28});
  m->add(cae::Flatten<float>());
  const index_t widths[][2] = {{784, 512}, {512, 512}, {512, 256}, {256, 64}};
  for (auto& w : widths) {
    m->add(cae::Linear<float>(w[0], w[1]));
    m->add(cae::ReLU<float>());
  }
  m->add(cae::Linear<float>(64, 784));
  m->add(cae::Sigmoid<float>());
  m->add(cae::Reshape<float>({1, 28, 28}));
  return m;
}

// Paper 000: Design 1's block 14 alone, 512x12x12 -> 2048x6x6.
std::unique_ptr<cae::Module<float>> bottleneck_000() {
  auto m = std::make_unique<Model>(Shape{512, 12, 12});
  m->add(paper000::table5_block(512, 2));
  return m;
}

// Paper 000: Design 1 classifier's 59x59 stride-1 max pool alone, 8x158x158 -> 8x100x100.
std::unique_ptr<cae::Module<float>> maxpool59_000() {
  auto m = std::make_unique<Model>(Shape{8, 158, 158});
  m->add(cae::MaxPool2d<float>(cae::MaxPool2dOptions(59).stride(1)));
  return m;
}

const std::vector<std::pair<std::string, Spec>>& models() {
  static const std::vector<std::pair<std::string, Spec>> all = {
      {"cae_002", {cae_002, {1, 28, 28}, 128, LossKind::Mse, 0, true, false, 199410}},
      {"cae_001", {cae_001, {3, 32, 32}, 64, LossKind::Mse, 0, true, false, 68227}},
      {"lenet5_001", {lenet5_001, {3, 32, 32}, 64, LossKind::CrossEntropy, 10, false, false, 62006}},
      {"design2_ae_000",
       {[] { return std::unique_ptr<cae::Module<float>>(paper000::design2_autoencoder()); },
        {3, 320, 320}, 15, LossKind::Bce, 0, true, false, 1647}},
      {"dense_ae_003", {dense_ae_003, {1, 28, 28}, 128, LossKind::Bce, 0, true, false, 863312}},
      {"bottleneck_000", {bottleneck_000, {512, 12, 12}, 15, LossKind::Mse, 0, false, true, 11022336}},
      {"maxpool59_000", {maxpool59_000, {8, 158, 158}, 15, LossKind::Mse, 0, false, true, 0}},
  };
  return all;
}

const Spec* find_model(const std::string& name) {
  for (auto& [n, s] : models())
    if (n == name) return &s;
  return nullptr;
}

const char* loss_name(LossKind k) {
  return k == LossKind::Mse ? "mse" : k == LossKind::Bce ? "bce" : "cross_entropy";
}

// ---- measuring ------------------------------------------------------------------

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// CPU time of the whole process (all threads): unlike wall time it does not run
// on while other processes hold the cores, so --profile uses it.
double process_clock_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double process_cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double peak_rss_mb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}
double load_average() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1.0;
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Options {
  std::vector<int> threads{1, 2};
  std::vector<std::string> models, modes{"train", "infer"};
  int repeats = 5, warmup = 2;
  double repeat_seconds = 0.5, max_seconds = 20.0;
  std::string out, omp_wait_policy;
  bool profile = false, smoke = false, list = false;
  int trace_allocations = 0;
  std::string worker, mode;
};

// Per-layer times of a flat Sequential, accumulated over the profiled steps.
struct LayerProfile {
  std::vector<double> forward, backward;
  std::vector<std::string> names;
  int steps = 0;
};

struct Bench {
  const Spec& spec;
  std::unique_ptr<cae::Module<float>> model;
  Model* sequential = nullptr;  // for --profile
  std::unique_ptr<cae::Loss<float>> loss;
  std::unique_ptr<cae::optim::Adam<float>> optimizer;
  cae::Tensor<float> x, target;
  bool train = true;
  float last_loss = 0;
  LayerProfile* profile = nullptr;

  index_t batch;

  Bench(const Spec& s, bool train_mode, index_t batch_size)
      : spec(s), train(train_mode), batch(batch_size) {
    cae::manual_seed(0);
    model = spec.build();
    sequential = dynamic_cast<Model*>(model.get());
    cae::Rng rng(1);
    x = cae::Tensor<float>(spec.input.prepend(batch));
    x.fill_uniform(rng, 0.0f, 1.0f);
    if (spec.loss == LossKind::CrossEntropy) {
      target = cae::Tensor<float>(Shape{batch});
      for (auto& t : target) t = static_cast<float>(rng.below(static_cast<std::uint64_t>(spec.classes)));
      loss = std::make_unique<cae::CrossEntropyLoss<float>>();
    } else if (spec.autoencoder) {
      target = x;  // reconstruction
    } else {
      const Shape out = model->build(spec.input);
      target = cae::Tensor<float>(out.prepend(batch));
      target.fill_normal(rng, 0.0f, 1.0f);
    }
    if (!loss) {
      if (spec.loss == LossKind::Bce)
        loss = std::make_unique<cae::BCELoss<float>>();
      else
        loss = std::make_unique<cae::MSELoss<float>>();
    }
    model->set_input_grad(spec.inner_layer);
    if (train) {
      model->train();
      auto params = model->parameters();
      if (!params.empty())
        optimizer = std::make_unique<cae::optim::Adam<float>>(params, cae::optim::AdamOptions(1e-3));
    } else {
      model->eval();
    }
  }

  const cae::Tensor<float>& forward() {
    if (!profile || !sequential) return model->forward(x);
    const cae::Tensor<float>* h = &x;
    for (std::size_t i = 0; i < sequential->size(); ++i) {
      const double t0 = process_clock_seconds();
      h = &(*sequential)[i].forward(*h);
      profile->forward[i] += process_clock_seconds() - t0;
    }
    return *h;
  }
  void backward(const cae::Tensor<float>& dy) {
    if (!profile || !sequential) {
      model->backward(dy);
      return;
    }
    const cae::Tensor<float>* g = &dy;
    for (std::size_t i = sequential->size(); i-- > 0;) {
      const double t0 = process_clock_seconds();
      g = &(*sequential)[i].backward(*g);
      profile->backward[i] += process_clock_seconds() - t0;
    }
  }

  void step() {
    if (!train) {
      forward();
      return;
    }
    if (optimizer) optimizer->zero_grad();
    const cae::Tensor<float>& y = forward();
    double t0 = process_clock_seconds();
    last_loss = loss->forward(y, target);
    const cae::Tensor<float>& dy = loss->backward();
    if (profile) profile->forward.back() += process_clock_seconds() - t0;
    backward(dy);
    t0 = process_clock_seconds();
    if (optimizer) optimizer->step();
    if (profile) profile->backward.back() += process_clock_seconds() - t0;
    if (profile) ++profile->steps;
  }
};

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

// One model, one mode, one thread count: prints one JSON line.
int run_worker(const Options& opt) {
  const Spec* spec = find_model(opt.worker);
  if (!spec) {
    std::fprintf(stderr, "unknown model %s\n", opt.worker.c_str());
    return 2;
  }
  const int threads = opt.threads.front();
  cae::set_num_threads(threads);
  const double baseline_rss = peak_rss_mb();
  const bool train = opt.mode == "train";
  // --smoke: a small batch, so that every model runs in a second or two.
  const index_t batch = opt.smoke ? std::min<index_t>(spec->batch, 4) : spec->batch;
  Bench bench(*spec, train, batch);
  const index_t params = bench.model->num_parameters();

  // Warm-up: the first steps allocate buffers. A step of seconds needs only one.
  const double warm_start = now_seconds();
  int warmup_steps = 0;
  double last = 0;
  while (warmup_steps < std::max(1, opt.warmup)) {
    const double t0 = now_seconds();
    bench.step();
    last = now_seconds() - t0;
    ++warmup_steps;
    if (now_seconds() - warm_start > 2.0) break;
  }
  int steps_per_repeat = std::max(1, static_cast<int>(std::lround(opt.repeat_seconds / std::max(last, 1e-6))));
  int repeats = opt.repeats;
  if (repeats * steps_per_repeat * last > opt.max_seconds)  // slow models: fewer repeats
    repeats = std::max(std::min(3, opt.repeats), static_cast<int>(opt.max_seconds / last));
  if (opt.smoke) steps_per_repeat = repeats = 1;

  const double load_before = load_average();
  const double cpu0 = process_cpu_seconds(), wall0 = now_seconds();
  std::vector<double> times;
  times.reserve(static_cast<std::size_t>(repeats));  // no allocation of ours while counting
  g_allocations = 0;
  g_omp_allocations = 0;
  find_openmp_runtime();
  if (opt.trace_allocations > 0) {
    void* frames[4];
    backtrace(frames, 4);  // loads the unwinder now, not inside a traced allocation
    g_traces_left = opt.trace_allocations;
  }
  g_counting = true;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_seconds();
    for (int s = 0; s < steps_per_repeat; ++s) bench.step();
    times.push_back((now_seconds() - t0) / steps_per_repeat);
  }
  g_counting = false;
  const long allocations = g_allocations.load(), omp_allocations = g_omp_allocations.load();
  const double cpu_utilization =
      (process_cpu_seconds() - cpu0) / ((now_seconds() - wall0) * threads);
  const long total_steps = static_cast<long>(repeats) * steps_per_repeat;

  if (opt.profile && bench.sequential) {
    LayerProfile prof;
    const std::size_t n = bench.sequential->size();
    prof.forward.assign(n + 1, 0.0);
    prof.backward.assign(n + 1, 0.0);
    for (std::size_t i = 0; i < n; ++i) prof.names.push_back((*bench.sequential)[i].describe());
    prof.names.push_back(train ? bench.loss->describe() + " / Adam" : "-");
    bench.profile = &prof;
    const int steps = std::max(1, total_steps > 20 ? 20 : static_cast<int>(total_steps));
    for (int s = 0; s < steps; ++s) bench.step();
    bench.profile = nullptr;
    double total = 0;
    for (std::size_t i = 0; i <= n; ++i) total += prof.forward[i] + prof.backward[i];
    std::fprintf(stderr, "profile %s %s threads=%d (CPU ms per step, all threads; last row: loss fwd+bwd / Adam)\n",
                 opt.worker.c_str(), opt.mode.c_str(), threads);
    for (std::size_t i = 0; i <= n; ++i) {
      const double f = 1e3 * prof.forward[i] / steps, b = 1e3 * prof.backward[i] / steps;
      std::fprintf(stderr, "  %2zu %-72.72s fwd %8.3f bwd %8.3f  %5.1f%%\n", i, prof.names[i].c_str(), f,
                   b, 100.0 * (prof.forward[i] + prof.backward[i]) / std::max(total, 1e-12));
    }
  }

  const double med = median(times);
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  char line[2048];
  std::snprintf(
      line, sizeof line,
      "{\"framework\": \"cae\", \"model\": \"%s\", \"threads\": %d, \"mode\": \"%s\", "
      "\"batch\": %lld, \"images_per_s\": %.3f, \"step_ms\": %.3f, \"step_ms_min\": %.3f, "
      "\"step_ms_max\": %.3f, \"repeats\": %d, \"steps_per_repeat\": %d, \"warmup_steps\": %d, "
      "\"max_rss_mb\": %.1f, \"baseline_rss_mb\": %.1f, \"params\": %lld, \"loadavg_1m\": %.2f, "
      "\"cpu_utilization\": %.3f, \"omp_wait_policy\": %s, \"loss\": \"%s\", \"input_grad\": %s, "
      "\"allocations_per_step\": %.3f, \"openmp_team_allocations_per_step\": %.3f, "
      "\"loss_value\": %.6g}",
      json_escape(opt.worker).c_str(), threads, opt.mode.c_str(),
      static_cast<long long>(batch), static_cast<double>(batch) / med, med * 1e3,
      *std::min_element(times.begin(), times.end()) * 1e3,
      *std::max_element(times.begin(), times.end()) * 1e3, repeats, steps_per_repeat, warmup_steps,
      peak_rss_mb(), baseline_rss, static_cast<long long>(params), load_before, cpu_utilization,
      policy ? ("\"" + json_escape(policy) + "\"").c_str() : "null", loss_name(spec->loss),
      spec->inner_layer && train ? "true" : "false",
      static_cast<double>(allocations) / static_cast<double>(total_steps),
      static_cast<double>(omp_allocations) / static_cast<double>(total_steps),
      static_cast<double>(bench.last_loss));
  std::puts(line);
  std::fflush(stdout);
  if (spec->params >= 0 && params != spec->params) {
    std::fprintf(stderr, "%s: %lld parameters, docs/models.md says %lld\n", opt.worker.c_str(),
                 static_cast<long long>(params), static_cast<long long>(spec->params));
    return 1;
  }
  if (train && !std::isfinite(bench.last_loss)) {
    std::fprintf(stderr, "%s: non-finite loss %g\n", opt.worker.c_str(), double(bench.last_loss));
    return 1;
  }
  return 0;
}

// ---- the driver ------------------------------------------------------------------

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::string piece = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!piece.empty()) out.push_back(piece);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string self_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "cae_bench";
  buf[n] = 0;
  return buf;
}

// Double-quoted for /bin/sh.
std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// Extracts a number field from one of our JSON lines (we wrote it: no nesting).
double json_number(const std::string& line, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const std::size_t at = line.find(k);
  return at == std::string::npos ? NAN : std::atof(line.c_str() + at + k.size());
}

int run_driver(const Options& opt) {
  std::vector<std::string> names = opt.models;
  if (names.empty())
    for (auto& [n, s] : models()) names.push_back(n);
  for (auto& n : names)
    if (!find_model(n)) {
      std::fprintf(stderr, "unknown model %s; known:", n.c_str());
      for (auto& [m, s] : models()) std::fprintf(stderr, " %s", m.c_str());
      std::fprintf(stderr, "\n");
      return 2;
    }
  std::FILE* out = opt.out.empty() ? nullptr : std::fopen(opt.out.c_str(), "a");
  const std::string self = self_path();
  int failures = 0;
  const double load = load_average();
  std::fprintf(stderr, "cae_bench: %ld logical CPUs; load average %.2f\n", sysconf(_SC_NPROCESSORS_ONLN),
               load);
  for (int threads : opt.threads) {
    for (auto& name : names) {
      const Spec& spec = *find_model(name);
      for (auto& mode : opt.modes) {
        if (mode == "infer" && !spec.autoencoder) continue;
        std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " ";
        if (!opt.omp_wait_policy.empty()) cmd += "OMP_WAIT_POLICY=" + opt.omp_wait_policy + " ";
        cmd += quote(self) + " --worker " + name + " --mode " + mode + " --threads " +
               std::to_string(threads) + " --repeats " + std::to_string(opt.repeats) +
               " --repeat-seconds " + std::to_string(opt.repeat_seconds) + " --warmup " +
               std::to_string(opt.warmup) + " --max-seconds " + std::to_string(opt.max_seconds);
        if (opt.profile) cmd += " --profile";
        if (opt.smoke) cmd += " --smoke";
        std::FILE* p = popen(cmd.c_str(), "r");
        std::string record;
        if (p) {
          char buf[4096];
          while (std::fgets(buf, sizeof buf, p))
            if (buf[0] == '{') record = buf;
        }
        const int status = p ? pclose(p) : -1;
        if (!record.empty() && record.back() == '\n') record.pop_back();
        if (status != 0 || record.empty()) {
          ++failures;
          std::fprintf(stderr, "FAILED %s %s threads=%d (status %d)\n", name.c_str(), mode.c_str(),
                       threads, status);
          continue;
        }
        std::puts(record.c_str());
        std::fflush(stdout);
        if (out) std::fprintf(out, "%s\n", record.c_str());
        std::fprintf(stderr, "  %-16s %-5s threads=%d  %10.1f img/s  step %9.2f ms  peak RSS %7.1f MB"
                             "  allocs/step %.1f\n",
                     name.c_str(), mode.c_str(), threads, json_number(record, "images_per_s"),
                     json_number(record, "step_ms"), json_number(record, "max_rss_mb"),
                     json_number(record, "allocations_per_step"));
      }
    }
  }
  if (out) std::fclose(out);
  return failures ? 1 : 0;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--threads 1,2] [--models a,b] [--modes train,infer] [--repeats 5]\n"
               "          [--repeat-seconds 0.5] [--warmup 2] [--max-seconds 20] [--out FILE]\n"
               "          [--omp-wait-policy PASSIVE|ACTIVE] [--profile] [--smoke] [--list]\n",
               argv0);
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  bool threads_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(argv[0]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      opt.threads.clear();
      for (auto& t : split(value())) opt.threads.push_back(std::atoi(t.c_str()));
      threads_given = true;
    } else if (a == "--models") {
      opt.models = split(value());
    } else if (a == "--modes") {
      opt.modes = split(value());
    } else if (a == "--repeats") {
      opt.repeats = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--repeat-seconds") {
      opt.repeat_seconds = std::atof(value().c_str());
    } else if (a == "--warmup") {
      opt.warmup = std::atoi(value().c_str());
    } else if (a == "--max-seconds") {
      opt.max_seconds = std::atof(value().c_str());
    } else if (a == "--out") {
      opt.out = value();
    } else if (a == "--omp-wait-policy") {
      opt.omp_wait_policy = value();
    } else if (a == "--profile") {
      opt.profile = true;
    } else if (a == "--smoke") {
      opt.smoke = true;
    } else if (a == "--trace-allocations") {
      opt.trace_allocations = std::atoi(value().c_str());
    } else if (a == "--list") {
      opt.list = true;
    } else if (a == "--worker") {
      opt.worker = value();
    } else if (a == "--mode") {
      opt.mode = value();
    } else {
      usage(argv[0]);
      return 2;
    }
  }
  for (int t : opt.threads)
    if (t < 1) {
      usage(argv[0]);
      return 2;
    }
  for (auto& m : opt.modes)
    if (m != "train" && m != "infer") {
      usage(argv[0]);
      return 2;
    }
  if (opt.list) {
    for (auto& [name, s] : models())
      std::printf("%-16s batch %3lld  input %-14s loss %s\n", name.c_str(),
                  static_cast<long long>(s.batch), s.input.str().c_str(), loss_name(s.loss));
    return 0;
  }
  if (opt.smoke) {
    if (!threads_given) opt.threads = {1};
    opt.warmup = 1;
  }
  try {
    if (!opt.worker.empty()) return run_worker(opt);
    return run_driver(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cae_bench: %s\n", e.what());
    return 1;
  }
}
