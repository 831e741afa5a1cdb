// ThreadScratch: scratch memory per thread, for the temporaries of one kernel
// call; padded_stride: the row stride for such scratch matrices.
#pragma once

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
// the memory is the largest layer's need, not the sum over layers. A buffer
// grows on its first use by a thread and is kept for the thread's lifetime, so
// steady-state batches allocate nothing. Two handles used at the same time by
// one kernel must have different purposes.
template <typename T, typename Purpose>
class ThreadScratch {
 public:
  // Sets how many elements local() provides from now on.
  void reserve(index_t elements) { elements_ = elements; }
  // The calling thread's buffer, of at least reserve()'s size (64-byte aligned).
  T* local() const {
    static thread_local Tensor<T> buffer{Shape{0}};
    if (buffer.numel() < elements_) buffer.resize({elements_});
    return buffer.data();
  }

 private:
  index_t elements_ = 0;
};

}  // namespace cae::kernels
