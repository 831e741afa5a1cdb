// Trainer: the fit/evaluate loop.
//
//   cae::train::Trainer<float> trainer(model, loss, optimizer, cae::train::classification<float>());
//   auto history = trainer.fit(train_loader, &test_loader,
//                              cae::train::FitOptions().epochs(5).checkpoint("run.ckpt"));
//
// An Example function turns a loader batch into (input, target): classification
// uses the labels, reconstruction the images themselves, denoising a corrupted
// copy as input. Each epoch trains, evaluates, records EpochStats in a History,
// steps the scheduler, calls the callbacks and saves a checkpoint (atomically)
// holding the model, the optimizer, the scheduler, the epoch and the history,
// so fit() can resume after a crash. A non-finite loss stops training with an
// error naming the epoch and batch.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cae/data/loader.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/loss.hpp"
#include "cae/module.hpp"
#include "cae/optim/optimizer.hpp"
#include "cae/train/history.hpp"
#include "cae/train/progress.hpp"

namespace cae::train {

// Fills the model input and the loss target from a batch; rng serves random
// corruptions, seeded per batch so runs are reproducible.
template <typename T>
using Example = std::function<void(const data::Batch&, Tensor<T>& input, Tensor<T>& target, Rng& rng)>;

template <typename T>
void copy_images(const Tensor<float>& images, Tensor<T>& out) {
  out.resize(images.shape());
  for (index_t i = 0; i < images.numel(); ++i) out[i] = static_cast<T>(images[i]);
}

// input = images, target = class indices (for CrossEntropyLoss).
template <typename T>
Example<T> classification() {
  return [](const data::Batch& b, Tensor<T>& input, Tensor<T>& target, Rng&) {
    copy_images(b.images, input);
    copy_images(b.targets, target);
  };
}
// input = target = images (autoencoders).
template <typename T>
Example<T> reconstruction() {
  return [](const data::Batch& b, Tensor<T>& input, Tensor<T>& target, Rng&) {
    copy_images(b.images, input);
    copy_images(b.images, target);
  };
}
// input = corrupt(images), target = images (denoising autoencoders).
template <typename T>
Example<T> denoising(std::function<void(Tensor<T>&, Rng&)> corrupt) {
  return [corrupt](const data::Batch& b, Tensor<T>& input, Tensor<T>& target, Rng& rng) {
    copy_images(b.images, target);
    copy_images(b.images, input);
    corrupt(input, rng);
  };
}

class FitOptions {
 public:
  FitOptions& epochs(int n) { epochs_ = n; return *this; }
  // Report accuracy (argmax of the output against the target's class index).
  FitOptions& accuracy(bool on) { accuracy_ = on; return *this; }
  // Save model, optimizer and history here after every epoch (atomic).
  FitOptions& checkpoint(std::string path) { checkpoint_ = std::move(path); return *this; }
  // Continue from the checkpoint if the file exists.
  FitOptions& resume(bool on) { resume_ = on; return *this; }
  // The settings that make a run what it is (data, sizes, hyper-parameters),
  // saved with the checkpoint. Resuming from a checkpoint saved under another
  // key throws instead of silently continuing a different run.
  FitOptions& run_key(std::string key) { run_key_ = std::move(key); return *this; }
  FitOptions& history_csv(std::string path) { history_csv_ = std::move(path); return *this; }
  FitOptions& history_json(std::string path) { history_json_ = std::move(path); return *this; }
  // -1: a progress bar when stdout is a terminal; 0: never; 1: always.
  FitOptions& progress(int mode) { progress_ = mode; return *this; }
  // Print one line per epoch.
  FitOptions& verbose(bool on) { verbose_ = on; return *this; }
  FitOptions& seed(std::uint64_t s) { seed_ = s; return *this; }

  int epochs() const { return epochs_; }
  bool accuracy() const { return accuracy_; }
  const std::string& checkpoint() const { return checkpoint_; }
  bool resume() const { return resume_; }
  const std::string& run_key() const { return run_key_; }
  const std::string& history_csv() const { return history_csv_; }
  const std::string& history_json() const { return history_json_; }
  int progress() const { return progress_; }
  bool verbose() const { return verbose_; }
  std::uint64_t seed() const { return seed_; }

 private:
  int epochs_ = 1;
  bool accuracy_ = false;
  std::string checkpoint_, history_csv_, history_json_, run_key_;
  bool resume_ = false;
  int progress_ = -1;
  bool verbose_ = true;
  std::uint64_t seed_ = 0;
};

struct Evaluation {
  double loss = kNotMeasured;
  double accuracy = kNotMeasured;
  index_t images = 0;
};

// Fraction of rows of `logits` [N, C] whose argmax equals target[n].
template <typename T>
index_t count_correct(const Tensor<T>& logits, const Tensor<T>& target) {
  CAE_CHECK(logits.rank() == 2 && target.numel() == logits.dim(0), ShapeError,
            "accuracy: expected logits [N, C] and N targets, got ", logits.shape(), " and ",
            target.shape());
  const index_t n = logits.dim(0), c = logits.dim(1);
  index_t correct = 0;
  for (index_t i = 0; i < n; ++i) {
    index_t best = 0;
    for (index_t k = 1; k < c; ++k)
      if (logits[i * c + k] > logits[i * c + best]) best = k;
    correct += best == static_cast<index_t>(target[i]);
  }
  return correct;
}

// Throws unless the checkpoint at `path` was saved under `run_key` (see
// FitOptions::run_key; a checkpoint saved without one has the empty key).
inline void require_run_key(const std::string& path, const std::string& run_key) {
  const io::CheckpointMetadata saved = io::read_checkpoint_metadata(path);
  const std::string saved_key = saved.contains("run_key") ? saved.get("run_key") : std::string();
  CAE_CHECK(saved_key == run_key, Error, path, ": this checkpoint belongs to another run (saved with run key '",
            saved_key, "', this run's is '", run_key, "'); delete it or save this run elsewhere");
}

template <typename T>
class Trainer {
 public:
  Trainer(Module<T>& model, Loss<T>& loss, optim::Optimizer<T>& optimizer, Example<T> example)
      : model_(model), loss_(loss), optimizer_(optimizer), example_(std::move(example)) {}

  // Any scheduler with step() (or step(metric), given the test loss, or the
  // train loss without a test set) and state()/load_state(), stepped once per epoch.
  template <typename Scheduler>
  void set_scheduler(Scheduler& s) {
    scheduler_step_ = [&s](double metric) {
      if constexpr (std::is_invocable_v<decltype(&Scheduler::step), Scheduler&, double>)
        s.step(metric);
      else
        (void)metric, s.step();
    };
    scheduler_state_ = [&s]() { return s.state(); };
    scheduler_load_ = [&s](const std::map<std::string, double>& st) { s.load_state(st); };
  }
  // Called after each epoch with its statistics (after the checkpoint is saved).
  void on_epoch_end(std::function<void(const EpochStats&)> fn) { callbacks_.push_back(std::move(fn)); }
  // Measures each epoch's test_loss / test_accuracy where a test loader does
  // not fit (inputs and targets kept apart, a metric other than the loss). It
  // runs before the epoch enters the history, so checkpoints and the CSV hold it.
  void validate_with(std::function<void(EpochStats&)> fn) { validator_ = std::move(fn); }

  // One pass over the loader in training mode; returns the mean loss and accuracy.
  Evaluation train_epoch(data::DataLoader& loader, int epoch, bool accuracy, bool progress) {
    model_.train();
    ProgressBar bar(progress, "epoch " + std::to_string(epoch), static_cast<long>(loader.size()));
    double loss_sum = 0;
    index_t images = 0, correct = 0;
    loader.set_epoch(epoch - 1);
    while (const data::Batch* b = loader.next()) {
      Rng rng(batch_seed(epoch, b->index));
      example_(*b, input_, target_, rng);
      optimizer_.zero_grad();
      const Tensor<T>& out = model_.forward(input_);
      const double l = static_cast<double>(loss_.forward(out, target_));
      CAE_CHECK(std::isfinite(l), Error, "training stopped: the loss became ", l, " at epoch ",
                epoch, ", batch ", b->index + 1, " of ", loader.size(),
                " (", loss_.describe(), "); try a lower learning rate (", optimizer_.describe(), ")");
      if (accuracy) correct += count_correct(out, target_);
      model_.backward(loss_.backward());
      optimizer_.step();
      loss_sum += l * b->size();
      images += b->size();
      bar.update(static_cast<long>(b->index + 1), loss_sum / images, static_cast<long>(images));
    }
    bar.finish();
    return finish(loss_sum, correct, images, accuracy);
  }

  // Mean loss (and accuracy) over a loader in eval mode, without updates.
  Evaluation evaluate(data::DataLoader& loader, bool accuracy) {
    model_.eval();
    double loss_sum = 0;
    index_t images = 0, correct = 0;
    loader.set_epoch(0);
    while (const data::Batch* b = loader.next()) {
      Rng rng(batch_seed(0x7e57, b->index));  // fixed: evaluation sees the same corruption every time
      example_(*b, input_, target_, rng);
      const Tensor<T>& out = model_.forward(input_);
      loss_sum += static_cast<double>(loss_.forward(out, target_)) * b->size();
      if (accuracy) correct += count_correct(out, target_);
      images += b->size();
    }
    model_.train();
    return finish(loss_sum, correct, images, accuracy);
  }

  History fit(data::DataLoader& train, data::DataLoader* test, const FitOptions& options) {
    options_ = options;
    History history;
    int first_epoch = 1;
    if (options.resume() && !options.checkpoint().empty() && io::file_exists(options.checkpoint())) {
      require_run_key(options.checkpoint(), options.run_key());  // before loading: a refusal leaves the model as it was
      const io::CheckpointMetadata meta = io::load_checkpoint(options.checkpoint(), model_, optimizer_);
      first_epoch = static_cast<int>(meta.get_int("epoch")) + 1;
      history = History::from_json(json::parse(meta.get("history"), options.checkpoint() + " history"));
      if (scheduler_load_) scheduler_load_(meta.get_doubles("scheduler"));
      if (options.verbose())
        std::printf("resuming from %s after epoch %d\n", options.checkpoint().c_str(), first_epoch - 1);
    }
    const bool progress = options.progress() < 0 ? stdout_is_terminal() : options.progress() > 0;
    for (int epoch = first_epoch; epoch <= options.epochs(); ++epoch) {
      EpochStats s;
      s.epoch = epoch;
      s.lr = optimizer_.lr();
      const auto start = std::chrono::steady_clock::now();
      const Evaluation tr = train_epoch(train, epoch, options.accuracy(), progress);
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      s.images_per_second = s.seconds > 0 ? tr.images / s.seconds : 0;
      s.train_loss = tr.loss;
      s.train_accuracy = tr.accuracy;
      if (test) {
        const Evaluation te = evaluate(*test, options.accuracy());
        s.test_loss = te.loss;
        s.test_accuracy = te.accuracy;
      }
      if (validator_) validator_(s);
      history.add(s);
      if (scheduler_step_) scheduler_step_(test ? s.test_loss : s.train_loss);
      if (options.verbose()) print_epoch(s, options.epochs());
      save(history, epoch);
      for (auto& cb : callbacks_) cb(s);
    }
    return history;
  }

 private:
  std::uint64_t batch_seed(std::uint64_t epoch, index_t batch) const {
    return options_.seed() * 0x9e3779b97f4a7c15ULL + epoch * 1000003ULL + static_cast<std::uint64_t>(batch);
  }

  static Evaluation finish(double loss_sum, index_t correct, index_t images, bool accuracy) {
    Evaluation e;
    e.images = images;
    e.loss = images ? loss_sum / images : kNotMeasured;
    if (accuracy && images) e.accuracy = static_cast<double>(correct) / images;
    return e;
  }

  void save(const History& history, int epoch) {
    if (!options_.history_csv().empty()) history.save_csv(options_.history_csv());
    if (!options_.history_json().empty()) history.save_json(options_.history_json());
    if (options_.checkpoint().empty()) return;
    io::CheckpointMetadata meta;
    meta.set_int("epoch", epoch).set("history", history.to_json().dump());
    if (!options_.run_key().empty()) meta.set("run_key", options_.run_key());
    if (scheduler_state_) meta.set_doubles("scheduler", scheduler_state_());
    io::save_checkpoint(options_.checkpoint(), model_, optimizer_, meta);
  }

  static void print_epoch(const EpochStats& s, int epochs) {
    std::printf("epoch %d/%d  train loss %.6g", s.epoch, epochs, s.train_loss);
    if (std::isfinite(s.train_accuracy)) std::printf("  train acc %.2f%%", 100 * s.train_accuracy);
    if (std::isfinite(s.test_loss)) std::printf("  test loss %.6g", s.test_loss);
    if (std::isfinite(s.test_accuracy)) std::printf("  test acc %.2f%%", 100 * s.test_accuracy);
    std::printf("  lr %.3g  %.1fs  %.0f img/s\n", s.lr, s.seconds, s.images_per_second);
    std::fflush(stdout);
  }

  Module<T>& model_;
  Loss<T>& loss_;
  optim::Optimizer<T>& optimizer_;
  Example<T> example_;
  FitOptions options_;
  Tensor<T> input_, target_;
  std::function<void(double)> scheduler_step_;
  std::function<std::map<std::string, double>()> scheduler_state_;
  std::function<void(const std::map<std::string, double>&)> scheduler_load_;
  std::vector<std::function<void(const EpochStats&)>> callbacks_;
  std::function<void(EpochStats&)> validator_;
};

}  // namespace cae::train
