// Thread control. cae parallelizes with OpenMP inside each batch; the thread
// count is a runtime setting (default: OMP_NUM_THREADS or all cores).
#pragma once

#include <omp.h>

#include <cstdint>

namespace cae {

// Element-wise work (activations, losses, optimizer updates) below this many
// elements runs on one thread. A parallel region costs microseconds on a quiet
// machine, and on a busy one a wait at its closing barrier for the slowest
// thread to be scheduled again, often milliseconds; ~256K elements (~0.1 ms of
// work) keep that rare. (PyTorch's grain is 32K elements.)
constexpr std::int64_t kElementwiseGrain = std::int64_t(1) << 18;

inline void set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
inline int num_threads() { return omp_get_max_threads(); }

}  // namespace cae
