// Trainer: the fit/evaluate loop.
//
//   cae::train::Trainer<float> trainer(model, loss, optimizer, cae::train::classification<float>());
//   auto history = trainer.fit(train_loader, &test_loader,
//                              cae::train::FitOptions().epochs(5).checkpoint("run.ckpt"));
//
// An Example function turns a loader batch into (input, target): classification
// uses the labels, reconstruction the images themselves, denoising a corrupted
// copy as input. Each epoch trains, evaluates, checks every statistic, records
// EpochStats in a History, steps the scheduler, calls the callbacks and saves
// a checkpoint (atomically) holding the model, the optimizer, the scheduler,
// the callbacks' state, the epoch and the history, so fit() can resume after
// a crash. How fit ends (docs/training.md has the details):
//   - every epoch done, or a callback's stop_training(): returns the History
//     (History::stop_reason says why it stopped early);
//   - a NaN or infinite loss, metric, gradient or weight, or the optional
//     DivergenceGuard: throws Diverged, naming the epoch, the batch and the
//     quantity, without saving the checkpoint, so the last good one stays;
//   - SIGINT or SIGTERM: finishes the batch, saves a checkpoint from which
//     resume(true) continues with the next batch, and throws Interrupted.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include "cae/data/loader.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/loss.hpp"
#include "cae/module.hpp"
#include "cae/optim/optimizer.hpp"
#include "cae/train/callbacks.hpp"
#include "cae/train/history.hpp"
#include "cae/train/progress.hpp"
#include "cae/train/signals.hpp"

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

enum class GuardAction { warn, stop };

// Catches runs that diverge while their losses stay finite (cross-entropy at a
// huge learning rate can train garbage for many epochs without a NaN). Off
// unless a limit is set. What it watches:
//   loss_factor(f)    a training batch whose loss exceeds f times the loss of
//                     the run's first batch (the untrained model's, e.g. ln C
//                     for cross-entropy; saved in checkpoints, so it survives a
//                     resume), checked before its backward pass; and an epoch
//                     whose test loss exceeds f times the first epoch's;
//   max_grad_norm(g)  a batch whose gradient norm (L2 over every parameter,
//                     before the optimizer step) exceeds g.
// With the stop action the offending batch's update is not applied. Losses
// are the sharper signal: a network whose units saturate (tanh, sigmoid) can
// train garbage at a huge learning rate with bounded gradients.
// The action: warn (a line on stderr, training goes on) or stop (throws
// Diverged; the checkpoint of the last epoch that passed stays as it was).
class DivergenceGuard {
 public:
  DivergenceGuard& loss_factor(double f) {
    CAE_CHECK(f == 0 || f > 1, Error, "DivergenceGuard: loss_factor must be above 1 (or 0: off), got ", f);
    loss_factor_ = f;
    return *this;
  }
  DivergenceGuard& max_grad_norm(double g) {
    CAE_CHECK(g >= 0, Error, "DivergenceGuard: max_grad_norm must not be negative, got ", g);
    max_grad_norm_ = g;
    return *this;
  }
  DivergenceGuard& action(GuardAction a) { action_ = a; return *this; }

  double loss_factor() const { return loss_factor_; }
  double max_grad_norm() const { return max_grad_norm_; }
  GuardAction action() const { return action_; }

 private:
  double loss_factor_ = 0, max_grad_norm_ = 0;
  GuardAction action_ = GuardAction::stop;
};

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
  // Progress on stderr (progress.hpp): 1 a live bar on a terminal, one plain
  // line per epoch otherwise; 0 never; -1 (default) as 1, but without the
  // plain line when verbose already prints one line per epoch.
  FitOptions& progress(int mode) { progress_ = mode; return *this; }
  // Print one line per epoch (format_epoch_line) on stdout.
  FitOptions& verbose(bool on) { verbose_ = on; return *this; }
  FitOptions& seed(std::uint64_t s) { seed_ = s; return *this; }
  FitOptions& divergence_guard(DivergenceGuard g) { guard_ = g; return *this; }
  // Catch SIGINT/SIGTERM during fit (default on): see signals.hpp.
  FitOptions& handle_interrupts(bool on) { handle_interrupts_ = on; return *this; }

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
  const DivergenceGuard& divergence_guard() const { return guard_; }
  bool handle_interrupts() const { return handle_interrupts_; }

 private:
  int epochs_ = 1;
  bool accuracy_ = false;
  std::string checkpoint_, history_csv_, history_json_, run_key_;
  bool resume_ = false;
  int progress_ = -1;
  bool verbose_ = true;
  std::uint64_t seed_ = 0;
  DivergenceGuard guard_;
  bool handle_interrupts_ = true;
};

// Thrown by fit when training diverged: a non-finite loss, metric, gradient
// norm or weight, or a DivergenceGuard limit with GuardAction::stop. The
// checkpoint is not saved for the failing epoch; the history files are, with
// the failing epoch in them (its non-finite values written as such).
class Diverged : public Error {
 public:
  Diverged(const std::string& what, int epoch, index_t batch, std::string quantity, double value, History history)
      : Error(what), epoch_(epoch), batch_(batch), quantity_(std::move(quantity)), value_(value),
        history_(std::move(history)) {}
  int epoch() const { return epoch_; }
  // 1-based batch of the training pass (or of the test pass for a test
  // loss); 0 when the quantity is the epoch's (a metric, a weight).
  index_t batch() const { return batch_; }
  // "train loss", "test loss", "train accuracy", "test accuracy",
  // "gradient norm" or "parameter <name>" / "buffer <name>".
  const std::string& quantity() const { return quantity_; }
  double value() const { return value_; }
  // The completed epochs, then the failing one (possibly partial).
  const History& history() const { return history_; }

 private:
  int epoch_;
  index_t batch_;
  std::string quantity_;
  double value_;
  History history_;
};

struct Evaluation {
  double loss = kNotMeasured;
  double accuracy = kNotMeasured;
  index_t images = 0;
  index_t first_nonfinite_batch = 0;  // 1-based batch whose loss was NaN or infinite; 0: none
  double first_nonfinite_loss = kNotMeasured;
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

// When a scheduler given to Trainer::set_scheduler steps.
enum class ScheduleStep { epoch, batch };

template <typename T>
class Trainer {
 public:
  Trainer(Module<T>& model, Loss<T>& loss, optim::Optimizer<T>& optimizer, Example<T> example)
      : model_(model), loss_(loss), optimizer_(optimizer), example_(std::move(example)) {}

  // Any scheduler with step() (or step(metric)) and state()/load_state().
  // Per epoch (the default) it steps after each epoch's statistics, given the
  // test loss, or the train loss without a test loader; per batch it steps
  // after each optimizer step, given the batch's loss. Its state is saved in
  // every checkpoint.
  template <typename Scheduler>
  void set_scheduler(Scheduler& s, ScheduleStep every = ScheduleStep::epoch) {
    scheduler_step_ = [&s](double metric) {
      if constexpr (std::is_invocable_v<decltype(&Scheduler::step), Scheduler&, double>)
        s.step(metric);
      else
        (void)metric, s.step();
    };
    schedule_every_ = every;
    scheduler_state_ = [&s]() { return s.state(); };
    scheduler_load_ = [&s](const std::map<std::string, double>& st) { s.load_state(st); };
  }
  // Called after each epoch with its statistics, after the checkpoint is
  // saved (a stop_training() from here is saved with a second write).
  void on_epoch_end(std::function<void(const EpochStats&)> fn) { callbacks_.push_back(std::move(fn)); }
  // Called after each training batch (after the optimizer step).
  void on_batch_end(std::function<void(const BatchStats&)> fn) { batch_callbacks_.push_back(std::move(fn)); }
  // A callback object (callbacks.hpp), not owned: it must outlive fit().
  void add_callback(Callback<T>& cb) { objects_.push_back(&cb); }
  // Measures each epoch's test_loss / test_accuracy where a test loader does
  // not fit (inputs and targets kept apart, a metric other than the loss). It
  // runs before the epoch enters the history, so checkpoints and the CSV hold it.
  void validate_with(std::function<void(EpochStats&)> fn) { validator_ = std::move(fn); }

  // Ends fit after the batch under way (from a batch callback) or at the end
  // of the epoch (from an epoch callback). The checkpoint records the stop, so
  // fit with resume(true) on it returns at once instead of training on.
  void stop_training(std::string reason) {
    stop_requested_ = true;
    stop_reason_ = reason.empty() ? "stop_training() was called" : std::move(reason);
  }
  bool stop_requested() const { return stop_requested_; }

  Module<T>& model() { return model_; }
  optim::Optimizer<T>& optimizer() { return optimizer_; }
  // The history of the fit under way (or of the last one).
  const History& history() const { return history_; }
  const FitOptions& options() const { return options_; }

  // The metadata fit saves with a checkpoint after `epoch`: the epoch, the
  // history, the run key, the scheduler's and the callbacks' state.
  io::CheckpointMetadata checkpoint_metadata(int epoch) const {
    io::CheckpointMetadata meta;
    meta.set_int("epoch", epoch).set("history", history_.to_json().dump());
    if (!options_.run_key().empty()) meta.set("run_key", options_.run_key());
    if (scheduler_state_) meta.set_doubles("scheduler", scheduler_state_());
    if (measured(first_batch_loss_)) meta.set_double("first_batch_loss", first_batch_loss_);
    for (const Callback<T>* cb : objects_) meta.set_doubles("callback." + cb->name(), cb->state());
    return meta;
  }

  // One pass over the loader in training mode; returns the mean loss and
  // accuracy. A non-finite batch loss throws Diverged; batch callbacks run,
  // and a stop_training() from one ends the pass early.
  Evaluation train_epoch(data::DataLoader& loader, int epoch, bool accuracy, bool progress) {
    PassState state;
    stop_requested_ = false;
    train_pass(loader, epoch, accuracy, progress ? ProgressMode::live : ProgressMode::off, state, false);
    return finish(state.loss_sum, state.correct, state.images, accuracy);
  }

  // Mean loss (and accuracy) over a loader in eval mode, without updates.
  // A non-finite batch loss is reported in first_nonfinite_batch.
  Evaluation evaluate(data::DataLoader& loader, bool accuracy) {
    Evaluation e;
    eval_pass(loader, accuracy, false, e);
    return e;
  }

  History fit(data::DataLoader& train, data::DataLoader* test, const FitOptions& options) {
    options_ = options;
    history_ = History();
    grad_warned_epoch_ = loss_warned_epoch_ = 0;
    first_batch_loss_ = kNotMeasured;
    struct InFit {  // fit's own files are written only while it runs
      bool& flag;
      ~InFit() { flag = false; }
    } in_fit{in_fit_};
    in_fit_ = true;
    stop_requested_ = false;
    stop_reason_.clear();
    check_callback_names();
    int first_epoch = 1;
    PassState resumed;
    double resumed_lr = kNotMeasured;
    if (options.resume() && !options.checkpoint().empty() && io::file_exists(options.checkpoint())) {
      require_run_key(options.checkpoint(), options.run_key());  // before loading: a refusal leaves the model as it was
      const io::CheckpointMetadata meta = io::load_checkpoint(options.checkpoint(), model_, optimizer_);
      first_epoch = static_cast<int>(meta.get_int("epoch")) + 1;
      history_ = History::from_json(json::parse(meta.get("history"), options.checkpoint() + " history"));
      if (scheduler_load_) scheduler_load_(meta.get_doubles("scheduler"));
      // (Checkpoints older than the guard lack it: the first epoch's mean is the next best reference.)
      if (meta.contains("first_batch_loss")) first_batch_loss_ = meta.get_double("first_batch_loss");
      else if (!history_.empty()) first_batch_loss_ = history_.epochs.front().train_loss;
      for (Callback<T>* cb : objects_) {
        const auto st = meta.get_doubles("callback." + cb->name());
        if (!st.empty()) cb->load_state(st);
      }
      if (meta.contains("partial.batches")) {
        resumed.batches_done = meta.get_int("partial.batches");
        resumed.loss_sum = meta.get_double("partial.loss_sum");
        resumed.images = meta.get_int("partial.images");
        resumed.correct = meta.get_int("partial.correct");
        resumed.seconds = meta.get_double("partial.seconds");
        resumed_lr = meta.get_double("partial.lr");
      }
      if (options.verbose()) {
        if (resumed.batches_done > 0)
          std::printf("resuming from %s at epoch %d, after batch %lld\n", options.checkpoint().c_str(),
                      first_epoch, static_cast<long long>(resumed.batches_done));
        else
          std::printf("resuming from %s after epoch %d\n", options.checkpoint().c_str(), first_epoch - 1);
        std::fflush(stdout);
      }
      if (meta.contains("stopped")) {  // the run had ended early: it is over
        history_.stop_reason = meta.get("stopped");
        if (options.verbose()) std::printf("training had stopped: %s\n", history_.stop_reason.c_str());
        return history_;
      }
    }
    std::optional<InterruptGuard> interrupts;
    if (options.handle_interrupts()) interrupts.emplace();
    const ProgressMode mode = progress_mode(options.progress(), options.verbose());
    for (Callback<T>* cb : objects_) cb->on_fit_begin(*this);
    for (int epoch = first_epoch; epoch <= options.epochs(); ++epoch) {
      EpochStats s;
      s.epoch = epoch;
      PassState state;
      s.lr = optimizer_.lr();
      if (epoch == first_epoch && resumed.batches_done > 0) state = resumed, s.lr = resumed_lr;
      const auto start = std::chrono::steady_clock::now();
      const PassEnd end = train_pass(train, epoch, options.accuracy(), mode, state, true);
      state.seconds += seconds_since(start);
      if (end != PassEnd::complete) {
        save_partial(epoch, state, s.lr, end == PassEnd::stopped);
        if (end == PassEnd::interrupted)
          throw_interrupted(str("at epoch ", epoch, ", after batch ", state.batches_done, " of ", train.size()));
        history_.stop_reason = stop_reason_;
        break;
      }
      s.seconds = state.seconds;
      s.images_per_second = s.seconds > 0 ? state.images / s.seconds : 0;
      const Evaluation tr = finish(state.loss_sum, state.correct, state.images, options.accuracy());
      s.train_loss = tr.loss;
      s.train_accuracy = tr.accuracy;
      Evaluation te;
      const auto test_start = std::chrono::steady_clock::now();
      if (test) {
        if (!eval_pass(*test, options.accuracy(), interrupts.has_value(), te)) {
          save_partial(epoch, state, s.lr, false);  // every batch trained: a resume re-runs the test pass
          throw_interrupted(str("during the test pass of epoch ", epoch, " (its training pass is saved)"));
        }
        s.test_loss = te.loss;
        s.test_accuracy = te.accuracy;
      }
      if (validator_) validator_(s);
      if (test || validator_) s.test_seconds = seconds_since(test_start);
      check_epoch(s, te);
      history_.add(s);
      if (scheduler_step_ && schedule_every_ == ScheduleStep::epoch)
        scheduler_step_(test ? s.test_loss : s.train_loss);
      for (Callback<T>* cb : objects_) cb->on_epoch_end(*this, s);
      check_weights(epoch);
      if (options.verbose()) {
        std::printf("%s\n", format_epoch_line(history_, epoch, options.epochs()).c_str());
        std::fflush(stdout);
      }
      const bool stop_before = stop_requested_;
      save(epoch);
      for (auto& cb : callbacks_) cb(s);
      if (stop_requested_ && !stop_before) save(epoch);  // record a stop asked for after the save
      if (stop_requested_) {
        history_.stop_reason = stop_reason_;
        break;
      }
      // (A signal during the last epoch's save needs no exception: the run is complete.)
      if (interrupts && InterruptGuard::pending() && epoch < options.epochs())
        throw_interrupted(str("after epoch ", epoch));
    }
    for (Callback<T>* cb : objects_) cb->on_fit_end(*this, history_);
    return history_;
  }

 private:
  // How far a training pass got; saved in a mid-epoch checkpoint.
  struct PassState {
    std::int64_t batches_done = 0;
    double loss_sum = 0;
    std::int64_t images = 0, correct = 0;
    double seconds = 0;
  };
  enum class PassEnd { complete, stopped, interrupted };

  static double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

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

  // Trains on the batches of `epoch` after state.batches_done (those before
  // were trained before a resume: the loader's order and every batch's seed
  // depend only on the seed, the epoch and the batch index, so skipping them
  // continues the same run).
  PassEnd train_pass(data::DataLoader& loader, int epoch, bool accuracy, ProgressMode mode,
                     PassState& state, bool in_fit) {
    model_.train();
    ProgressBar bar(mode, "epoch " + std::to_string(epoch), static_cast<long>(loader.size()),
                    static_cast<long>(state.batches_done));
    loader.set_epoch(epoch - 1);
    for (std::int64_t k = 0; k < state.batches_done; ++k)
      CAE_CHECK(loader.next() != nullptr, Error, "resuming epoch ", epoch, " after batch ", state.batches_done,
                ", but the training loader has only ", loader.size(), " batches (a different data set?)");
    const DivergenceGuard& guard = options_.divergence_guard();
    const bool in_fit_guard = in_fit && guard.max_grad_norm() > 0;
    while (const data::Batch* b = loader.next()) {
      Rng rng(batch_seed(epoch, b->index));
      example_(*b, input_, target_, rng);
      optimizer_.zero_grad();
      const Tensor<T>& out = model_.forward(input_);
      const double l = static_cast<double>(loss_.forward(out, target_));
      if (!std::isfinite(l)) {
        bar.finish();
        const double mean = (state.loss_sum + l * b->size()) / static_cast<double>(state.images + b->size());
        diverged(epoch, b->index + 1, "train loss", l,
                 str("the loss became ", fmt(l), " at epoch ", epoch, ", batch ", b->index + 1, " of ",
                     loader.size(), " (", loss_.describe(), ")"),
                 in_fit ? partial_epoch(epoch, mean) : nullptr);
      }
      if (in_fit && !measured(first_batch_loss_)) {
        first_batch_loss_ = l;
      } else if (in_fit && guard.loss_factor() > 0 && l > guard.loss_factor() * first_batch_loss_) {
        const std::string what = str("the loss ", l, " at epoch ", epoch, ", batch ", b->index + 1, " of ",
                                     loader.size(), " is more than ", guard.loss_factor(),
                                     " times the first batch's (", first_batch_loss_,
                                     "), the divergence guard's loss_factor");
        if (guard.action() == GuardAction::stop) {
          bar.finish();
          const double mean = (state.loss_sum + l * b->size()) / static_cast<double>(state.images + b->size());
          diverged(epoch, b->index + 1, "train loss", l, what, partial_epoch(epoch, mean));
        }
        if (loss_warned_epoch_ != epoch) warn(what + " (warned once per epoch)");
        loss_warned_epoch_ = epoch;
      }
      if (accuracy) state.correct += count_correct(out, target_);
      model_.backward(loss_.backward());
      BatchStats bs;
      if (in_fit_guard) bs.grad_norm = gradient_norm();
      if (measured(bs.grad_norm) && !(bs.grad_norm <= guard.max_grad_norm())) {
        const bool finite = std::isfinite(bs.grad_norm);
        const std::string what = str("the gradient norm ", fmt(bs.grad_norm),
                                     finite ? str(" exceeded the divergence guard's max_grad_norm ", guard.max_grad_norm())
                                            : std::string(" is not finite"),
                                     " at epoch ", epoch, ", batch ", b->index + 1, " of ", loader.size());
        if (!finite || guard.action() == GuardAction::stop) {
          bar.finish();
          const double mean = (state.loss_sum + l * b->size()) / static_cast<double>(state.images + b->size());
          diverged(epoch, b->index + 1, "gradient norm", bs.grad_norm, what, partial_epoch(epoch, mean));
        }
        if (grad_warned_epoch_ != epoch) warn(what + " (warned once per epoch)");
        grad_warned_epoch_ = epoch;
      }
      optimizer_.step();
      state.loss_sum += l * b->size();
      state.images += b->size();
      state.batches_done = b->index + 1;
      bar.update(static_cast<long>(b->index + 1), state.loss_sum / state.images, static_cast<long>(state.images));
      if (scheduler_step_ && schedule_every_ == ScheduleStep::batch) scheduler_step_(l);
      if (!batch_callbacks_.empty() || !objects_.empty()) {
        bs.epoch = epoch;
        bs.batch = b->index + 1;
        bs.batches = loader.size();
        bs.size = b->size();
        bs.loss = l;
        for (auto& cb : batch_callbacks_) cb(bs);
        for (Callback<T>* cb : objects_) cb->on_batch_end(*this, bs);
      }
      if (stop_requested_) {
        bar.finish();
        return PassEnd::stopped;
      }
      if (in_fit && InterruptGuard::pending()) {
        bar.finish();
        return PassEnd::interrupted;
      }
    }
    bar.finish();
    return PassEnd::complete;
  }

  // The test pass; false when a signal arrived (the pass is abandoned after
  // the batch under way, when check_interrupt).
  bool eval_pass(data::DataLoader& loader, bool accuracy, bool check_interrupt, Evaluation& e) {
    model_.eval();
    double loss_sum = 0;
    index_t images = 0, correct = 0;
    loader.set_epoch(0);
    while (const data::Batch* b = loader.next()) {
      Rng rng(batch_seed(0x7e57, b->index));  // fixed: evaluation sees the same corruption every time
      example_(*b, input_, target_, rng);
      const Tensor<T>& out = model_.forward(input_);
      const double l = static_cast<double>(loss_.forward(out, target_));
      if (!std::isfinite(l) && e.first_nonfinite_batch == 0) {
        e.first_nonfinite_batch = b->index + 1;
        e.first_nonfinite_loss = l;
      }
      loss_sum += l * b->size();
      if (accuracy) correct += count_correct(out, target_);
      images += b->size();
      if (check_interrupt && InterruptGuard::pending()) {
        model_.train();
        return false;
      }
    }
    model_.train();
    const Evaluation f = finish(loss_sum, correct, images, accuracy);
    e.loss = f.loss, e.accuracy = f.accuracy, e.images = f.images;
    return true;
  }

  // sqrt of the sum of squares of every gradient, in double and in parameter
  // order, so it does not depend on the thread count.
  double gradient_norm() const {
    double sum = 0;
    for (const auto& p : optimizer_.parameters())
      for (index_t i = 0; i < p.grad->numel(); ++i) {
        const double g = static_cast<double>((*p.grad)[i]);
        sum += g * g;
      }
    return std::sqrt(sum);
  }

  static std::string fmt(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return str(v);
  }
  static void warn(const std::string& what) {
    std::fprintf(stderr, "cae: warning: %s\n", what.c_str());
    std::fflush(stderr);
  }

  // The statistics of an epoch stopped in its training pass, for the history.
  std::unique_ptr<EpochStats> partial_epoch(int epoch, double train_loss) const {
    auto s = std::make_unique<EpochStats>();
    s->epoch = epoch;
    s->lr = optimizer_.lr();
    s->train_loss = train_loss;
    return s;
  }

  // Writes the history files with `failing` (if any) as the last epoch, and
  // throws Diverged. The checkpoint is not touched.
  [[noreturn]] void diverged(int epoch, index_t batch, const std::string& quantity, double value,
                             const std::string& what, std::unique_ptr<EpochStats> failing) {
    std::string msg = "training stopped: " + what;
    if (!in_fit_) {  // train_epoch() called on its own: no files are fit's to write
      msg += str("; try a lower learning rate (", optimizer_.describe(), ")");
      throw Diverged(msg, epoch, batch, quantity, value, History());
    }
    History h = history_;
    if (failing) h.add(*failing);
    if (failing || !h.empty()) save_history_files(h);
    if (!options_.checkpoint().empty())
      msg += history_.empty() ? str("; no checkpoint was saved")
                              : str("; ", options_.checkpoint(), " was left as saved after epoch ",
                                    history_.last().epoch);
    msg += str("; try a lower learning rate (", optimizer_.describe(), ")");
    throw Diverged(msg, epoch, batch, quantity, value, std::move(h));
  }

  // Every measured statistic must be finite; then the guard's loss limits.
  void check_epoch(const EpochStats& s, const Evaluation& te) {
    auto fail = [&](const char* quantity, double v, index_t batch, const std::string& where) {
      auto failing = std::make_unique<EpochStats>(s);
      diverged(s.epoch, batch, quantity, v,
               str("the ", quantity, " became ", fmt(v), " at epoch ", s.epoch, where), std::move(failing));
    };
    if (measured(s.train_loss) && !std::isfinite(s.train_loss)) fail("train loss", s.train_loss, 0, "");
    if (measured(s.train_accuracy) && !std::isfinite(s.train_accuracy))
      fail("train accuracy", s.train_accuracy, 0, "");
    if (measured(s.test_loss) && !std::isfinite(s.test_loss)) {
      if (te.first_nonfinite_batch > 0)
        fail("test loss", s.test_loss, te.first_nonfinite_batch,
             str(" (first at batch ", te.first_nonfinite_batch, " of the test set, ", loss_.describe(), ")"));
      fail("test loss", s.test_loss, 0, validator_ ? " (as set by validate_with)" : "");
    }
    if (measured(s.test_accuracy) && !std::isfinite(s.test_accuracy))
      fail("test accuracy", s.test_accuracy, 0, "");
    const DivergenceGuard& guard = options_.divergence_guard();
    if (guard.loss_factor() <= 0 || history_.empty()) return;
    const EpochStats& first = history_.epochs.front();
    const double v = s.test_loss, ref = first.test_loss;
    if (!measured(v) || !measured(ref) || !(ref > 0) || !(v > guard.loss_factor() * ref)) return;
    const std::string what = str("the test loss ", v, " at epoch ", s.epoch, " is more than ", guard.loss_factor(),
                                 " times that of epoch ", first.epoch, " (", ref, "), the divergence guard's loss_factor");
    if (guard.action() == GuardAction::stop)
      diverged(s.epoch, 0, "test loss", v, what, std::make_unique<EpochStats>(s));
    warn(what);
  }

  // No checkpoint may hold a NaN or an infinity: a finite loss does not rule
  // out a last step that broke the weights.
  void check_weights(int epoch) {
    auto check = [&](const Tensor<T>& t, const std::string& kind, const std::string& name) {
      for (index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(static_cast<double>(t[i]))) {
          const std::string quantity = kind + " " + name;
          // The epoch may already be in the history: it goes to the files, not to the checkpoint.
          std::unique_ptr<EpochStats> failing;
          if (!history_.empty() && history_.last().epoch == epoch) {
            failing = std::make_unique<EpochStats>(history_.last());
            history_.epochs.pop_back();
          }
          diverged(epoch, 0, quantity, static_cast<double>(t[i]),
                   str(quantity, " holds ", fmt(static_cast<double>(t[i])), " (element ", i, ") after epoch ", epoch),
                   std::move(failing));
        }
    };
    for (auto& p : model_.parameters()) check(*p.value, "parameter", p.name);
    for (auto& b : model_.buffers()) check(*b.value, "buffer", b.name);
  }

  void check_callback_names() const {
    std::set<std::string> names;
    for (const Callback<T>* cb : objects_)
      CAE_CHECK(names.insert(cb->name()).second, Error, "Trainer: two callbacks are named '", cb->name(),
                "'; their saved states would collide");
  }

  void save_history_files(const History& h) const {
    if (!options_.history_csv().empty()) h.save_csv(options_.history_csv());
    if (!options_.history_json().empty()) h.save_json(options_.history_json());
  }

  void save(int epoch) {
    save_history_files(history_);
    if (options_.checkpoint().empty()) return;
    io::CheckpointMetadata meta = checkpoint_metadata(epoch);
    if (stop_requested_) meta.set("stopped", stop_reason_);
    io::save_checkpoint(options_.checkpoint(), model_, optimizer_, meta);
  }

  // A checkpoint in the middle of epoch `epoch`: the completed epochs, plus
  // how far this one got, so a resume goes on from the next batch.
  void save_partial(int epoch, const PassState& state, double lr, bool stopped) {
    if (options_.checkpoint().empty()) return;
    check_weights(epoch);
    io::CheckpointMetadata meta = checkpoint_metadata(epoch - 1);
    meta.set_int("partial.batches", state.batches_done)
        .set_double("partial.loss_sum", state.loss_sum)
        .set_int("partial.images", state.images)
        .set_int("partial.correct", state.correct)
        .set_double("partial.seconds", state.seconds)
        .set_double("partial.lr", lr);
    if (stopped) meta.set("stopped", stop_reason_);
    io::save_checkpoint(options_.checkpoint(), model_, optimizer_, meta);
  }

  // `where`: "at epoch 3, after batch 5 of 8", "after epoch 3", ...
  [[noreturn]] void throw_interrupted(const std::string& where) {
    const int sig = InterruptGuard::pending();
    const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    std::string msg = str("training interrupted by ", name, " ", where, "; ");
    msg += options_.checkpoint().empty()
               ? std::string("no checkpoint path was set (FitOptions::checkpoint), so nothing was saved")
               : str("saved ", options_.checkpoint(), ", from which fit with resume(true) continues");
    throw Interrupted(msg, sig);
  }

  Module<T>& model_;
  Loss<T>& loss_;
  optim::Optimizer<T>& optimizer_;
  Example<T> example_;
  FitOptions options_;
  History history_;
  Tensor<T> input_, target_;
  std::function<void(double)> scheduler_step_;
  ScheduleStep schedule_every_ = ScheduleStep::epoch;
  std::function<std::map<std::string, double>()> scheduler_state_;
  std::function<void(const std::map<std::string, double>&)> scheduler_load_;
  std::vector<std::function<void(const EpochStats&)>> callbacks_;
  std::vector<std::function<void(const BatchStats&)>> batch_callbacks_;
  std::vector<Callback<T>*> objects_;
  std::function<void(EpochStats&)> validator_;
  bool stop_requested_ = false;
  std::string stop_reason_;
  bool in_fit_ = false;
  int grad_warned_epoch_ = 0, loss_warned_epoch_ = 0;
  double first_batch_loss_ = kNotMeasured;  // the untrained model's loss, the guard's reference
};

}  // namespace cae::train
