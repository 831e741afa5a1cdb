// Scratch: the one place where kernels get their per-thread temporary memory;
// ScratchHandle: how a workspace or layer holds one; padded_stride: the row
// stride for scratch matrices.
//
// Who owns what. A Scratch belongs to a model: Sequential (and Residual)
// create one and hand it to every layer they hold (Module::set_scratch), so a
// network's scratch is its largest layer's need, not the sum over layers, and
// it is freed when the model is. A layer used on its own owns a Scratch of its
// own. A user may create one, give it to a model with set_scratch(), read its
// size with bytes() and free it with release() (the next batch grows it
// again). Two models that run at the same time (two std::threads) must have
// different Scratch objects, which they do unless the user gives them one.
//
// Inside, one buffer per (purpose, OpenMP thread number): kernels call
// reserve() outside parallel regions and local() inside them. Buffers only
// grow, so steady-state batches allocate nothing.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "cae/shape.hpp"

namespace cae {

class Scratch {
 public:
  // What a buffer is for: two buffers used by one kernel at the same time
  // need different purposes.
  enum Purpose : int {
    kConvTiles,      // conv im2col + GEMM: a column tile and a [filters, cols] tile
    kWinogradTiles,  // Winograd: transformed inputs, products, rows
    kGemmBlocks,     // packed GEMM: a thread's packed blocks
    kGemmShared,     // packed GEMM: the calling thread's block that parallel_gemm's team shares
    kPoolRows,       // running max: a plane's row results and suffixes
    kPoolSpans,      // running max: the windows of each axis (calling thread only)
    kPurposes
  };

  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // Makes local(purpose) give at least `bytes` to each thread of the coming
  // parallel regions (omp_get_max_threads() of them). Outside parallel regions only.
  void reserve(Purpose purpose, std::size_t bytes) {
    auto& slots = buffers_[purpose];
    const std::size_t threads = static_cast<std::size_t>(std::max(omp_get_max_threads(), 1));
    if (slots.size() < threads) slots.resize(threads);
    for (auto& slot : slots)
      if (slot.bytes < bytes) slot.grow(bytes);
  }
  // The calling thread's buffer (64-byte aligned) of the last reserve(purpose).
  template <typename T>
  T* local(Purpose purpose) const {
    const auto& slots = buffers_[purpose];
    const std::size_t thread = static_cast<std::size_t>(omp_get_thread_num());
    // A team larger than omp_get_max_threads() at reserve() time cannot
    // happen in cae's kernels; if a caller breaks that rule, fail loudly.
    if (thread >= slots.size()) std::abort();
    return static_cast<T*>(slots[thread].data);
  }
  // Memory held now, in bytes.
  std::size_t bytes() const {
    std::size_t total = 0;
    for (const auto& slots : buffers_)
      for (const auto& slot : slots) total += slot.bytes;
    return total;
  }
  // Frees every buffer; the next kernel call allocates what it needs again.
  void release() {
    for (auto& slots : buffers_) slots.clear();
  }

 private:
  struct Slot {
    void* data = nullptr;
    std::size_t bytes = 0;
    Slot() = default;
    Slot(Slot&& o) noexcept : data(o.data), bytes(o.bytes) { o.data = nullptr, o.bytes = 0; }
    Slot& operator=(Slot&& o) noexcept {
      std::swap(data, o.data);
      std::swap(bytes, o.bytes);
      return *this;
    }
    ~Slot() { std::free(data); }
    void grow(std::size_t need) {
      const std::size_t rounded = (need + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, rounded);
      if (!p) throw std::bad_alloc();
      std::free(data);
      data = p;
      bytes = rounded;
    }
  };
  std::vector<Slot> buffers_[kPurposes];
};

// A workspace's or layer's reference to a Scratch. It starts with a Scratch of
// its own; share() points it at a model's. A copy (a copied layer) gets a new
// Scratch of its own, so the copy can run in another thread than the original.
class ScratchHandle {
 public:
  ScratchHandle() : scratch_(std::make_shared<Scratch>()) {}
  ScratchHandle(const ScratchHandle&) : ScratchHandle() {}
  ScratchHandle& operator=(const ScratchHandle&) {
    scratch_ = std::make_shared<Scratch>();
    return *this;
  }
  ScratchHandle(ScratchHandle&&) = default;
  ScratchHandle& operator=(ScratchHandle&&) = default;

  void share(std::shared_ptr<Scratch> scratch) {
    if (scratch) scratch_ = std::move(scratch);
  }
  const std::shared_ptr<Scratch>& get() const { return scratch_; }
  Scratch& operator*() const { return *scratch_; }
  Scratch* operator->() const { return scratch_.get(); }

 private:
  std::shared_ptr<Scratch> scratch_;
};

namespace kernels {

// Row stride for a scratch matrix of `cols` columns: a multiple of 16 values
// (64 bytes), but not of 256 (1 KB), because rows 1, 2 or 4 KB apart all fall
// into the same few L1 cache sets and evict each other (a 16x16 image's
// 256-column tiles ran three times slower).
inline index_t padded_stride(index_t cols) {
  index_t ld = (cols + 15) / 16 * 16;
  if (ld % 256 == 0) ld += 16;
  return ld;
}

// A typed view of one purpose of a Scratch, for kernels that count elements.
template <typename T>
struct ScratchBuffer {
  Scratch* scratch;
  Scratch::Purpose purpose;
  void reserve(index_t elements) const {
    scratch->reserve(purpose, sizeof(T) * static_cast<std::size_t>(std::max<index_t>(elements, 1)));
  }
  T* local() const { return scratch->local<T>(purpose); }
};

}  // namespace kernels
}  // namespace cae
