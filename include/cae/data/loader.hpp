// DataLoader: cuts a Dataset into batches, like torch.utils.data.DataLoader.
//
//   DataLoader loader(train, DataLoaderOptions(64).shuffle(true).seed(1).prefetch(true));
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const Batch& b : loader) { ... b.images, b.targets ... }
//
// Reproducibility: the order of epoch e depends only on (seed, e), and the
// Rng handed to the transform of batch b only on (seed, e, b). So the same
// seed gives the same batches whether or not a background thread prepares
// them (prefetch), and a run resumed with set_epoch(e) sees what the
// uninterrupted run saw.
//
// Batches live in buffers the loader owns and reuses: a batch returned by
// next() (or seen in a range-for) stays valid until the following next().
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "cae/data/dataset.hpp"
#include "cae/error.hpp"
#include "cae/random.hpp"
#include "cae/tensor.hpp"

namespace cae::data {

struct Batch {
  Tensor<float> images;          // [B, C, H, W]
  std::vector<int> labels;       // B class indices; empty for an unlabelled dataset
  Tensor<float> targets;         // [B]: the labels as floats, the target CrossEntropyLoss takes
  std::vector<index_t> indices;  // which samples of the dataset these are
  index_t epoch = 0;
  index_t index = 0;             // batch number within the epoch

  index_t size() const { return images.rank() == 0 ? 0 : images.dim(0); }
};

// Called on each batch's images, after they are gathered; it may change them
// in place (augmentation), including their shape (a random crop).
using BatchTransform = std::function<void(Tensor<float>& images, Rng& rng)>;

struct DataLoaderOptions {
  explicit DataLoaderOptions(index_t batch_size = 1) : batch_size_(batch_size) {}
  DataLoaderOptions& batch_size(index_t n) {
    batch_size_ = n;
    return *this;
  }
  // Reshuffle every epoch (default); false keeps the dataset's order.
  DataLoaderOptions& shuffle(bool on) {
    shuffle_ = on;
    return *this;
  }
  // Leave out the last batch when it would be smaller than batch_size.
  DataLoaderOptions& drop_last(bool on) {
    drop_last_ = on;
    return *this;
  }
  DataLoaderOptions& seed(std::uint64_t s) {
    seed_ = s;
    return *this;
  }
  // Prepare the next batch on a background thread while this one is used.
  DataLoaderOptions& prefetch(bool on) {
    prefetch_ = on;
    return *this;
  }
  index_t batch_size() const { return batch_size_; }
  bool shuffle() const { return shuffle_; }
  bool drop_last() const { return drop_last_; }
  std::uint64_t seed() const { return seed_; }
  bool prefetch() const { return prefetch_; }

 private:
  index_t batch_size_;
  bool shuffle_ = false;  // as torch.utils.data.DataLoader
  bool drop_last_ = false;
  std::uint64_t seed_ = 0;
  bool prefetch_ = false;
};

class DataLoader {
 public:
  // The loader keeps a reference: `dataset` must outlive it and stay unchanged.
  explicit DataLoader(const Dataset& dataset, DataLoaderOptions options = DataLoaderOptions())
      : dataset_(dataset), options_(options) {
    CAE_CHECK(options_.batch_size() > 0, Error, "DataLoader: batch_size must be positive, got ",
              options_.batch_size());
    CAE_CHECK(dataset.images.rank() >= 1, Error,
              "DataLoader: the dataset has no images tensor (shape ", dataset.images.shape(), ")");
    CAE_CHECK(dataset.labels.empty() ||
                  static_cast<index_t>(dataset.labels.size()) == dataset.images.dim(0),
              Error, "DataLoader: ", dataset.images.dim(0), " images but ", dataset.labels.size(),
              " labels");
  }
  ~DataLoader() {
    if (worker_.joinable()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
      }
      cv_.notify_all();
      worker_.join();
    }
  }
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return dataset_; }
  index_t num_samples() const { return dataset_.images.dim(0); }
  // Batches per epoch.
  index_t size() const {
    const index_t n = num_samples(), b = options_.batch_size();
    return options_.drop_last() ? n / b : (n + b - 1) / b;
  }

  void set_transform(BatchTransform transform) {
    wait_idle();
    transform_ = std::move(transform);
    // A batch prepared ahead was made with the old transform: make it again.
    if (active_ && options_.prefetch() && cursor_ < size()) submit(cursor_);
  }

  // The epoch being served; -1 before the first.
  index_t epoch() const { return epoch_; }
  // Makes the next epoch started be epoch e (to resume a run).
  void set_epoch(index_t e) {
    wait_idle();
    active_ = false;
    epoch_ = e - 1;
  }

  // Abandons the current epoch, if any, and begins the next one.
  void start_epoch() {
    wait_idle();
    ++epoch_;
    const index_t n = num_samples();
    order_.resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) order_[static_cast<std::size_t>(i)] = i;
    if (options_.shuffle()) {
      Rng rng(stream_seed(epoch_, kShuffleStream));
      for (index_t i = n - 1; i > 0; --i)  // Fisher-Yates
        std::swap(order_[static_cast<std::size_t>(i)],
                  order_[rng.below(static_cast<std::uint64_t>(i) + 1)]);
    }
    cursor_ = 0;
    active_ = true;
    if (options_.prefetch() && size() > 0) submit(0);
  }

  // The next batch of the current epoch, or nullptr when the epoch is over
  // (the call after that starts a new epoch). Valid until the next call.
  const Batch* next() {
    if (!active_) start_epoch();
    if (cursor_ >= size()) {
      active_ = false;
      return nullptr;
    }
    Batch* out;
    if (options_.prefetch()) {
      wait_idle();
      if (error_) {
        active_ = false;
        std::rethrow_exception(std::exchange(error_, nullptr));
      }
      out = &slots_[cursor_ % 2];
      if (cursor_ + 1 < size()) submit(cursor_ + 1);
    } else {
      out = &slots_[0];
      try {
        fill(*out, epoch_, cursor_);
      } catch (...) {
        active_ = false;
        throw;
      }
    }
    ++cursor_;
    return out;
  }

  // The same, copied into `out` (whose buffers are reused); false at the end of an epoch.
  bool next(Batch& out) {
    const Batch* b = next();
    if (!b) return false;
    out.images = b->images;
    out.labels = b->labels;
    out.targets = b->targets;
    out.indices = b->indices;
    out.epoch = b->epoch;
    out.index = b->index;
    return true;
  }

  // Range-for over one epoch: each `for (const Batch& b : loader)` starts the next epoch.
  class iterator {
   public:
    iterator(DataLoader* loader, const Batch* batch) : loader_(loader), batch_(batch) {}
    const Batch& operator*() const { return *batch_; }
    const Batch* operator->() const { return batch_; }
    iterator& operator++() {
      batch_ = loader_->next();
      return *this;
    }
    bool operator==(const iterator& o) const { return (batch_ == nullptr) == (o.batch_ == nullptr); }
    bool operator!=(const iterator& o) const { return !(*this == o); }

   private:
    DataLoader* loader_;
    const Batch* batch_;
  };
  iterator begin() {
    start_epoch();
    return iterator(this, next());
  }
  iterator end() { return iterator(this, nullptr); }

 private:
  static constexpr std::uint64_t kShuffleStream = ~std::uint64_t(0);

  static std::uint64_t mix(std::uint64_t x) {  // splitmix64's finalizer
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  std::uint64_t stream_seed(index_t epoch, std::uint64_t stream) const {
    return mix(mix(mix(options_.seed()) ^ static_cast<std::uint64_t>(epoch)) ^ stream);
  }

  // Gathers batch b of `epoch` (in order_) into out and applies the transform.
  void fill(Batch& out, index_t epoch, index_t b) const {
    const index_t first = b * options_.batch_size();
    const index_t count = std::min(options_.batch_size(), num_samples() - first);
    const Shape sample = dataset_.images.shape().drop_front();
    const index_t stride = sample.numel();
    out.images.resize(sample.prepend(count));
    out.indices.resize(static_cast<std::size_t>(count));
    const bool labelled = !dataset_.labels.empty();
    out.labels.resize(labelled ? static_cast<std::size_t>(count) : 0);
    out.targets.resize(Shape{labelled ? count : 0});
    for (index_t k = 0; k < count; ++k) {
      const index_t i = order_[static_cast<std::size_t>(first + k)];
      out.indices[static_cast<std::size_t>(k)] = i;
      if (stride)
        std::memcpy(out.images.data() + k * stride, dataset_.images.data() + i * stride,
                    sizeof(float) * static_cast<std::size_t>(stride));
      if (labelled) {
        const int label = dataset_.labels[static_cast<std::size_t>(i)];
        out.labels[static_cast<std::size_t>(k)] = label;
        out.targets[k] = static_cast<float>(label);
      }
    }
    out.epoch = epoch;
    out.index = b;
    if (transform_) {
      Rng rng(stream_seed(epoch, static_cast<std::uint64_t>(b)));
      transform_(out.images, rng);
    }
  }

  // Hands batch b of the current epoch to the worker thread (started on first use).
  void submit(index_t b) {
    if (!worker_.joinable()) worker_ = std::thread([this] { work(); });
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = b;
      busy_ = true;
      error_ = nullptr;
    }
    cv_.notify_all();
  }

  void wait_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return !busy_; });
  }

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || (busy_ && !running_); });
      if (stop_) return;
      running_ = true;
      const index_t b = job_;
      const index_t epoch = epoch_;
      lock.unlock();
      std::exception_ptr err;
      try {
        fill(slots_[b % 2], epoch, b);
      } catch (...) {
        err = std::current_exception();
      }
      lock.lock();
      error_ = err;
      running_ = false;
      busy_ = false;
      cv_.notify_all();
    }
  }

  const Dataset& dataset_;
  DataLoaderOptions options_;
  BatchTransform transform_;
  std::vector<index_t> order_;  // sample indices of the current epoch
  index_t epoch_ = -1;
  index_t cursor_ = 0;          // next batch to hand out
  bool active_ = false;
  Batch slots_[2];              // double buffer: one in use, one being prepared

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  index_t job_ = 0;
  bool busy_ = false;     // a job is submitted and not finished
  bool running_ = false;  // the worker is executing it
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace cae::data
