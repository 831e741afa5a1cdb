// Thread control. cae parallelizes with OpenMP inside each batch; the thread
// count is a runtime setting (default: OMP_NUM_THREADS or all cores).
#pragma once

#include <omp.h>

namespace cae {

inline void set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
inline int num_threads() { return omp_get_max_threads(); }

}  // namespace cae
