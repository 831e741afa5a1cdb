// ThreadScratch: one scratch buffer per OpenMP thread, kept between calls so a
// layer allocates only while its buffers grow (the first batch), never in
// steady state.
#pragma once

#include <vector>

#include <omp.h>

#include "cae/tensor.hpp"

namespace cae::kernels {

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
