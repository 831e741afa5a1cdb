// Callbacks that act on training (Keras's idea, libtorch's style of options):
//
//   cae::train::EarlyStopping<float> stop(cae::train::EarlyStoppingOptions("test_loss")
//                                             .patience(3).min_delta(1e-4).restore_best_weights(true));
//   cae::train::BestCheckpoint<float> best("run/best.ckpt", cae::train::MonitorOptions("test_acc"));
//   trainer.add_callback(stop);
//   trainer.add_callback(best);
//
// A Callback<T> is told when fit begins and ends, and after every batch and
// every epoch; through the Trainer it is given it can read the model, the
// optimizer and the history, and end training with trainer.stop_training(why)
// (after the batch under way, or at the end of the epoch). Its state() is
// saved with every checkpoint under "callback.<name>.", so a resumed run goes
// on counting patience where it was.
//
// Epoch-end callbacks run after the epoch's statistics are checked and added
// to the history and the scheduler has stepped, and before the epoch's
// checkpoint is saved: what they change (weights restored by EarlyStopping,
// their own state) is in that checkpoint.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cae/error.hpp"
#include "cae/io/checkpoint.hpp"
#include "cae/module.hpp"
#include "cae/train/history.hpp"

namespace cae::train {

template <typename T>
class Trainer;

// One training batch, as callbacks see it after the optimizer step.
struct BatchStats {
  int epoch = 0;           // 1-based
  index_t batch = 0;       // 1-based, within the epoch
  index_t batches = 0;     // in the epoch
  index_t size = 0;        // samples in this batch
  double loss = 0;         // this batch's mean loss
  double grad_norm = kNotMeasured;  // L2 norm of all gradients, when the divergence guard measures it
};

template <typename T>
class Callback {
 public:
  virtual ~Callback() = default;
  // Unique among a trainer's callbacks: it keys the state in checkpoints.
  virtual std::string name() const = 0;
  virtual void on_fit_begin(Trainer<T>&) {}
  virtual void on_batch_end(Trainer<T>&, const BatchStats&) {}
  virtual void on_epoch_end(Trainer<T>&, const EpochStats&) {}
  virtual void on_fit_end(Trainer<T>&, const History&) {}
  // Numbers that must survive a resume (counters, best values).
  virtual std::map<std::string, double> state() const { return {}; }
  virtual void load_state(const std::map<std::string, double>&) {}
};

enum class MonitorMode { min, max };  // whether a lower or a higher value is better

// The epoch statistic a callback watches: "train_loss", "test_loss",
// "train_acc" or "test_acc" ("train_accuracy", "test_accuracy" also work).
// The mode defaults to max for accuracies and min for losses.
class MonitorOptions {
 public:
  explicit MonitorOptions(std::string monitor = "test_loss") : monitor_(std::move(monitor)) {
    CAE_CHECK(monitor_ == "train_loss" || monitor_ == "test_loss" || is_accuracy(), Error,
              "callback: cannot monitor '", monitor_,
              "'; use train_loss, test_loss, train_acc or test_acc");
    mode_ = is_accuracy() ? MonitorMode::max : MonitorMode::min;
  }
  MonitorOptions& mode(MonitorMode m) { mode_ = m; return *this; }
  // An improvement must beat the best value by more than this (>= 0).
  MonitorOptions& min_delta(double d) {
    CAE_CHECK(d >= 0, Error, "callback: min_delta must not be negative, got ", d);
    min_delta_ = d;
    return *this;
  }

  const std::string& monitor() const { return monitor_; }
  MonitorMode mode() const { return mode_; }
  double min_delta() const { return min_delta_; }

  // The watched value of `s`; throws if that epoch did not measure it.
  double value(const EpochStats& s, const std::string& who) const {
    const double v = monitor_ == "train_loss"   ? s.train_loss
                     : monitor_ == "test_loss"  ? s.test_loss
                     : monitor_.rfind("train", 0) == 0 ? s.train_accuracy
                                                       : s.test_accuracy;
    CAE_CHECK(measured(v), Error, who, " monitors ", monitor_, ", which epoch ", s.epoch,
              " did not measure (",
              monitor_.rfind("test", 0) == 0 ? "give fit a test loader or use validate_with"
                                             : "turn on FitOptions::accuracy",
              ")");
    return v;
  }
  // Keras's rule: better than `best` by more than min_delta. NaN never is.
  bool improves(double v, double best) const {
    return mode_ == MonitorMode::min ? v < best - min_delta_ : v > best + min_delta_;
  }
  double worst() const {
    const double inf = std::numeric_limits<double>::infinity();
    return mode_ == MonitorMode::min ? inf : -inf;
  }

 private:
  bool is_accuracy() const {
    return monitor_ == "train_acc" || monitor_ == "test_acc" || monitor_ == "train_accuracy" ||
           monitor_ == "test_accuracy";
  }
  std::string monitor_;
  MonitorMode mode_ = MonitorMode::min;
  double min_delta_ = 0;
};

class EarlyStoppingOptions {
 public:
  explicit EarlyStoppingOptions(std::string monitor = "test_loss") : monitor_(std::move(monitor)) {}
  EarlyStoppingOptions& mode(MonitorMode m) { monitor_.mode(m); return *this; }
  EarlyStoppingOptions& min_delta(double d) { monitor_.min_delta(d); return *this; }
  // Epochs without improvement after which training stops (0 and 1 both stop
  // at the first, as in Keras).
  EarlyStoppingOptions& patience(int n) {
    CAE_CHECK(n >= 0, Error, "EarlyStopping: patience must not be negative, got ", n);
    patience_ = n;
    return *this;
  }
  // On stopping, put back the weights (parameters and buffers) of the best epoch.
  EarlyStoppingOptions& restore_best_weights(bool on) { restore_ = on; return *this; }

  const MonitorOptions& monitor() const { return monitor_; }
  int patience() const { return patience_; }
  bool restore_best_weights() const { return restore_; }

 private:
  MonitorOptions monitor_;
  int patience_ = 0;
  bool restore_ = false;
};

namespace detail {
// Copies of a model's parameters and buffers, to put back later.
template <typename T>
class WeightSnapshot {
 public:
  void take(Module<T>& model) {
    values_.clear();
    for (auto& p : model.parameters()) values_.push_back(*p.value);
    for (auto& b : model.buffers()) values_.push_back(*b.value);
  }
  bool empty() const { return values_.empty(); }
  void restore(Module<T>& model) const {
    std::size_t i = 0;
    auto put = [&](Tensor<T>& dst, const std::string& name) {
      CAE_CHECK(i < values_.size() && values_[i].shape() == dst.shape(), Error,
                "EarlyStopping: cannot restore '", name, "': the model changed since its best epoch");
      std::copy(values_[i].begin(), values_[i].end(), dst.begin());
      ++i;
    };
    for (auto& p : model.parameters()) put(*p.value, p.name);
    for (auto& b : model.buffers()) put(*b.value, b.name);
  }

 private:
  std::vector<Tensor<T>> values_;
};
}  // namespace detail

// Stops training once the monitored statistic has not improved for
// `patience` epochs, as keras.callbacks.EarlyStopping. With
// restore_best_weights the model is given the weights of its best epoch when
// it stops (not when training runs to its last epoch, as in Keras); those are
// kept in memory, so after a resume they exist only for epochs trained since
// (use BestCheckpoint to keep them on disk; a warning says when they are missing).
template <typename T>
class EarlyStopping : public Callback<T> {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = EarlyStoppingOptions())
      : options_(std::move(options)), best_(options_.monitor().worst()) {}

  std::string name() const override { return "early_stopping." + options_.monitor().monitor(); }

  void on_epoch_end(Trainer<T>& trainer, const EpochStats& s) override {
    const MonitorOptions& m = options_.monitor();
    const double v = m.value(s, "EarlyStopping");
    ++wait_;
    if (m.improves(v, best_)) {
      best_ = v;
      best_epoch_ = s.epoch;
      wait_ = 0;
      if (options_.restore_best_weights()) snapshot_.take(trainer.model());
      return;
    }
    if (wait_ < options_.patience()) return;
    stopped_epoch_ = s.epoch;
    std::string why = str("early stopping: ", m.monitor(), " has not improved on ", best_,
                          " (epoch ", best_epoch_, ") for ", wait_, " epoch", wait_ == 1 ? "" : "s");
    if (options_.restore_best_weights()) {
      if (!snapshot_.empty()) {
        snapshot_.restore(trainer.model());
        why += str("; restored the weights of epoch ", best_epoch_);
      } else {
        std::fprintf(stderr,
                     "cae: EarlyStopping: the weights of the best epoch (%d) were saved before this "
                     "run resumed and are not in memory; keeping the last ones\n",
                     best_epoch_);
      }
    }
    trainer.stop_training(why);
  }

  std::map<std::string, double> state() const override {
    return {{"best", best_}, {"best_epoch", best_epoch_}, {"wait", wait_}, {"stopped_epoch", stopped_epoch_}};
  }
  void load_state(const std::map<std::string, double>& st) override {
    auto get = [&](const char* k) {
      auto it = st.find(k);
      CAE_CHECK(it != st.end(), Error, "EarlyStopping: saved state has no '", k, "'");
      return it->second;
    };
    best_ = get("best");
    best_epoch_ = static_cast<int>(get("best_epoch"));
    wait_ = static_cast<int>(get("wait"));
    stopped_epoch_ = static_cast<int>(get("stopped_epoch"));
  }

  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }  // 0 before the first epoch
  int stopped_epoch() const { return stopped_epoch_; }  // 0 unless it stopped training

 private:
  EarlyStoppingOptions options_;
  double best_;
  int best_epoch_ = 0, wait_ = 0, stopped_epoch_ = 0;
  detail::WeightSnapshot<T> snapshot_;
};

// Keeps the best checkpoint: after each epoch whose monitored statistic
// improves on every earlier one, saves the model, the optimizer and the
// metadata of a resumable checkpoint (epoch, history, scheduler, run key) to
// `path`, atomically; other epochs leave the file as it is. The file also
// records "monitor" and "best" (the value).
template <typename T>
class BestCheckpoint : public Callback<T> {
 public:
  BestCheckpoint(std::string path, MonitorOptions options = MonitorOptions())
      : path_(std::move(path)), options_(std::move(options)), best_(options_.worst()) {
    CAE_CHECK(!path_.empty(), Error, "BestCheckpoint: empty path");
  }

  std::string name() const override { return "best_checkpoint." + options_.monitor(); }

  void on_epoch_end(Trainer<T>& trainer, const EpochStats& s) override {
    const double v = options_.value(s, "BestCheckpoint");
    if (!options_.improves(v, best_)) return;
    best_ = v;
    best_epoch_ = s.epoch;
    io::CheckpointMetadata meta = trainer.checkpoint_metadata(s.epoch);
    meta.set("monitor", options_.monitor()).set_double("best", v);
    io::save_checkpoint(path_, trainer.model(), trainer.optimizer(), meta);
  }

  std::map<std::string, double> state() const override {
    return {{"best", best_}, {"best_epoch", best_epoch_}};
  }
  void load_state(const std::map<std::string, double>& st) override {
    auto it = st.find("best"), ie = st.find("best_epoch");
    CAE_CHECK(it != st.end() && ie != st.end(), Error, "BestCheckpoint: saved state has no 'best'");
    best_ = it->second;
    best_epoch_ = static_cast<int>(ie->second);
  }

  const std::string& path() const { return path_; }
  double best() const { return best_; }
  int best_epoch() const { return best_epoch_; }  // 0 before the first save

 private:
  std::string path_;
  MonitorOptions options_;
  double best_;
  int best_epoch_ = 0;
};

}  // namespace cae::train

// The callbacks' bodies use Trainer; this makes the header usable on its own.
#include "cae/train/fit.hpp"
