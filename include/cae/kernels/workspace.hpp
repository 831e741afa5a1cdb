// ThreadScratch: scratch memory per thread, for the temporaries of one kernel
// call; padded_stride: the row stride for such scratch matrices.
#pragma once

#include <algorithm>

#include <omp.h>

#include "cae/tensor.hpp"

namespace cae::kernels {

// Row stride for a scratch matrix of `cols` columns: a multiple of 16 values
// (64 bytes), but not of 256 (1 KB), because rows 1, 2 or 4 KB apart all fall
// into the same few L1 cache sets and evict each other (a 16x16 image's
// 256-column tiles ran three times slower).
inline index_t padded_stride(index_t cols) {
  index_t ld = (cols + 15) / 16 * 16;
  if (ld % 256 == 0) ld += 16;
  return ld;
}

// A handle on one buffer per thread, shared by every handle with the same
// Purpose (a tag type): the layers of a network run one after the other, so
// the memory is the largest layer's need, not the sum over layers. Buffers only
// grow, in reserve(), and are kept for the threads' lifetime, so steady-state
// batches allocate nothing. Two handles used at the same time by one kernel
// must have different purposes.
template <typename T, typename Purpose>
class ThreadScratch {
 public:
  // Makes local() provide `elements` to every thread of the coming parallel
  // regions. Call it outside parallel regions: when the buffers must grow, it
  // grows them all at once, so no thread allocates later inside a kernel.
  void reserve(index_t elements) {
    elements_ = elements;
    // What this calling thread's teams have been given so far.
    static thread_local index_t grown = 0;
    static thread_local int team = 0;
    const int threads = omp_get_max_threads();
    if (elements <= grown && threads <= team) return;
    grown = std::max(grown, elements);
    team = std::max(team, threads);
#pragma omp parallel num_threads(threads)
    buffer(grown);
  }
  // The calling thread's buffer, of at least reserve()'s size (64-byte aligned).
  T* local() const { return buffer(elements_); }

 private:
  static T* buffer(index_t elements) {
    static thread_local Tensor<T> storage{Shape{0}};
    if (storage.numel() < elements) storage.resize({elements});
    return storage.data();
  }
  index_t elements_ = 0;
};

}  // namespace cae::kernels
