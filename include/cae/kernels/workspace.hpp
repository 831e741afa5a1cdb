// ThreadScratch: one scratch buffer per OpenMP thread, kept between calls so a
// layer allocates only while its buffers grow (the first batch), never in
// steady state.
#pragma once

#include <vector>

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

template <typename T>
class ThreadScratch {
 public:
  // Gives every thread of the coming parallel regions `elements` of scratch.
  // Call it outside parallel regions: it may allocate.
  void reserve(index_t elements) {
    const std::size_t threads = static_cast<std::size_t>(omp_get_max_threads());
    if (buffers_.size() < threads) buffers_.resize(threads);
    for (auto& b : buffers_) b.resize({elements});
  }
  // The calling thread's buffer (inside a parallel region, or outside it as thread 0).
  T* local() { return buffers_[static_cast<std::size_t>(omp_get_thread_num())].data(); }

 private:
  std::vector<Tensor<T>> buffers_;
};

}  // namespace cae::kernels
