// peak_flops: the fp32 peak of this machine, the yardstick for cae's kernels.
//
// Each thread runs many independent chains of fused multiply-adds in vector
// registers (acc = acc * a + b). One chain alone would be limited by the FMA
// latency (4 cycles on Zen 4, Ice Lake); with more chains in flight than
// latency x FMA units, the FMA units never wait, so the rate is the throughput
// peak. Counting: one FMA on a W-lane register = 2 * W floating-point operations.
//
// The core clock is estimated with a chain of dependent integer adds (1 cycle
// each on every x86 core of the last decade), which gives FLOP/cycle, the number
// to compare with the vendor's (Zen 4: 32 fp32 FLOP/cycle from two 256-bit FMA
// pipes, AVX-512 instructions split in two halves; Skylake-X/Ice Lake server
// with two 512-bit FMA units: 64).
//
// Build: g++ -O3 -march=native -fopenmp benchmarks/peak_flops.cpp -o peak_flops
//        (or the CMake target peak_flops). Run: ./peak_flops [threads...]
// Prints a table, then one JSON line per measurement.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr long kInnerSteps = 1L << 14;  // FMA rounds between checks of the clock

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: unlike wall time, it does not run on while the
// thread waits for a core that other processes hold.
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Keeps the compiler from proving the accumulators dead and deleting the loop.
template <typename V>
void keep(V& v) {
  asm volatile("" : "+v"(v));
}

// Twelve accumulators as named variables: an array would be kept in memory and
// every FMA would wait for a store and a load.
#define CAE_TWELVE(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
constexpr int kChains = 12;

#if defined(__AVX512F__)
// Runs `rounds` rounds of kChains independent FMAs; returns the FLOPs done.
double fma_avx512(long rounds, float* sink) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
#define CAE_INIT(j) __m512 acc##j = _mm512_set1_ps(static_cast<float>(j));
#define CAE_STEP(j) acc##j = _mm512_fmadd_ps(acc##j, a, b);
#define CAE_KEEP(j) keep(acc##j);
#define CAE_SUM(j) s = _mm512_add_ps(s, acc##j);
  CAE_TWELVE(CAE_INIT)
  for (long r = 0; r < rounds; ++r) {
    CAE_TWELVE(CAE_STEP)
    CAE_TWELVE(CAE_KEEP)
  }
  __m512 s = _mm512_setzero_ps();
  CAE_TWELVE(CAE_SUM)
  alignas(64) float out[16];
  _mm512_store_ps(out, s);
  for (float v : out) *sink += v;
  return 2.0 * 16 * kChains * static_cast<double>(rounds);
#undef CAE_INIT
#undef CAE_STEP
#undef CAE_KEEP
#undef CAE_SUM
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
double fma_avx2(long rounds, float* sink) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
#define CAE_INIT(j) __m256 acc##j = _mm256_set1_ps(static_cast<float>(j));
#define CAE_STEP(j) acc##j = _mm256_fmadd_ps(acc##j, a, b);
#define CAE_KEEP(j) keep(acc##j);
#define CAE_SUM(j) s = _mm256_add_ps(s, acc##j);
  CAE_TWELVE(CAE_INIT)
  for (long r = 0; r < rounds; ++r) {
    CAE_TWELVE(CAE_STEP)
    CAE_TWELVE(CAE_KEEP)
  }
  __m256 s = _mm256_setzero_ps();
  CAE_TWELVE(CAE_SUM)
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  for (float v : out) *sink += v;
  return 2.0 * 8 * kChains * static_cast<double>(rounds);
#undef CAE_INIT
#undef CAE_STEP
#undef CAE_KEEP
#undef CAE_SUM
}
#endif

// Scalar: the compiler fuses acc * a + b into one FMA where the ISA has it.
double scalar_mul_add(long rounds, float* sink) {
#define CAE_INIT(j) float acc##j = static_cast<float>(j);
#define CAE_STEP(j) acc##j = acc##j * 0.999999f + 1e-6f;
#define CAE_KEEP(j) asm volatile("" : "+x"(acc##j));
#define CAE_SUM(j) *sink += acc##j;
  CAE_TWELVE(CAE_INIT)
  for (long r = 0; r < rounds; ++r) {
    CAE_TWELVE(CAE_STEP)
    CAE_TWELVE(CAE_KEEP)
  }
  CAE_TWELVE(CAE_SUM)
  return 2.0 * kChains * static_cast<double>(rounds);
#undef CAE_INIT
#undef CAE_STEP
#undef CAE_KEEP
#undef CAE_SUM
}

using Kernel = double (*)(long, float*);

struct Isa {
  const char* name;
  Kernel kernel;
};

std::vector<Isa> compiled_isas() {
  std::vector<Isa> isas;
#if defined(__AVX512F__)
  isas.push_back({"avx512", fma_avx512});
#endif
#if defined(__AVX2__) && defined(__FMA__)
  isas.push_back({"avx2", fma_avx2});
#endif
  isas.push_back({"scalar", scalar_mul_add});
  return isas;
}

// Cycles per CPU-second of the calling thread: 100 dependent adds take 100 cycles.
double estimate_clock_hz(double seconds) {
  long x = 0;
  long blocks = 0;
  const double t0 = thread_cpu_seconds();
  double t = t0;
  while (t - t0 < seconds) {
    for (int i = 0; i < 1000; ++i) {
      asm volatile(".rept 100\n\taddq $1, %0\n\t.endr" : "+r"(x));
    }
    blocks += 1000;
    t = thread_cpu_seconds();
  }
  if (x == 42) std::puts("");  // uses x
  return 100.0 * static_cast<double>(blocks) / (t - t0);
}

struct Result {
  double gflops;          // all threads together, per wall-clock second
  double ghz;             // estimated core clock, mean over the threads
  double flop_per_cycle;  // per core, from each thread's CPU time and clock
  double cpu_share;       // CPU time the threads got / (wall time x threads)
};

// Every thread runs the kernel for about `seconds`; returns the aggregate rate.
Result measure(Kernel kernel, int threads, double seconds) {
  std::vector<double> flops(threads, 0.0), hz(threads, 0.0), cpu(threads, 0.0);
  std::vector<float> sink(threads * 16, 0.0f);
  double elapsed = 0.0;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    kernel(kInnerSteps, &sink[t * 16]);  // warm up: wakes the core and its vector units
    hz[t] = estimate_clock_hz(0.05);
#pragma omp barrier
    const double t0 = now_seconds();
    const double c0 = thread_cpu_seconds();
    double done = 0.0;
    while (now_seconds() - t0 < seconds) done += kernel(kInnerSteps, &sink[t * 16]);
    flops[t] = done;
    cpu[t] = thread_cpu_seconds() - c0;
#pragma omp barrier
#pragma omp single
    elapsed = now_seconds() - t0;
  }
  Result r{0.0, 0.0, 0.0, 0.0};
  for (int t = 0; t < threads; ++t) {
    r.gflops += flops[t] / elapsed / 1e9;
    r.ghz += hz[t] / 1e9 / threads;
    r.flop_per_cycle += flops[t] / (cpu[t] * hz[t]) / threads;
    r.cpu_share += cpu[t] / (elapsed * threads);
  }
  float s = 0.0f;
  for (float v : sink) s += v;
  if (s == 1.2345f) std::puts("");  // uses the results
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts;
  for (int i = 1; i < argc; ++i) {
    const int n = std::atoi(argv[i]);
    if (n <= 0) {
      std::fprintf(stderr, "usage: %s [threads...]   (default: 1 and all cores)\n", argv[0]);
      return 2;
    }
    thread_counts.push_back(n);
  }
  if (thread_counts.empty()) {
    thread_counts.push_back(1);
    if (omp_get_num_procs() > 1) thread_counts.push_back(omp_get_num_procs());
  }
  const int repeats = 5;        // the best of several: peak, not average
  const double seconds = 0.25;  // per repeat

  std::printf("fp32 FMA peak, %d independent chains per thread, best of %d x %.2f s\n", kChains,
              repeats, seconds);
  std::printf("%-7s %7s %10s %13s %9s %16s %10s\n", "isa", "threads", "GFLOP/s", "GFLOP/s/core",
              "GHz(est)", "FLOP/cycle/core", "CPU share");
  std::vector<std::string> json;
  for (const Isa& isa : compiled_isas()) {
    for (int threads : thread_counts) {
      Result best{0.0, 0.0, 0.0, 0.0};
      for (int r = 0; r < repeats; ++r) {
        const Result res = measure(isa.kernel, threads, seconds);
        if (res.gflops > best.gflops) best = res;
      }
      std::printf("%-7s %7d %10.1f %13.1f %9.2f %16.1f %9.0f%%\n", isa.name, threads, best.gflops,
                  best.gflops / threads, best.ghz, best.flop_per_cycle, 100.0 * best.cpu_share);
      char line[320];
      std::snprintf(line, sizeof line,
                    "{\"benchmark\": \"peak_flops\", \"isa\": \"%s\", \"threads\": %d, "
                    "\"gflops\": %.1f, \"ghz_est\": %.2f, \"flop_per_cycle_per_core\": %.1f, "
                    "\"cpu_share\": %.2f}",
                    isa.name, threads, best.gflops, best.ghz, best.flop_per_cycle, best.cpu_share);
      json.emplace_back(line);
    }
  }
  for (const auto& line : json) std::puts(line.c_str());
  return 0;
}
