// Progress display for training, on stderr (like tqdm and other command-line
// tools), so that stdout keeps only results and a log file of stdout never
// holds '\r'-joined bar redraws.
//
//   live   stderr is a terminal: a bar redrawn in place at most ten times a
//          second, with batches done, running loss, images/s, the elapsed time
//          and the ETA of the epoch; cleared at the epoch's end.
//   plain  stderr is not a terminal (a log file, CI): nothing per batch, and
//          one line when the training pass ends, with its batches, time and
//          throughput.
//   off    nothing.
//
// format_epoch_line() is the one-line summary of an epoch that Trainer prints
// with FitOptions::verbose, and that programs printing their own lines call.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "cae/train/history.hpp"

namespace cae::train {

inline bool stdout_is_terminal() { return ::isatty(::fileno(stdout)) == 1; }
inline bool stderr_is_terminal() { return ::isatty(::fileno(stderr)) == 1; }

// "m:ss" or "h:mm:ss"; "--:--" for a negative, NaN or absurd duration (an ETA
// before the first batch).
inline std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

namespace detail {
// Appends v through `fmt` (one %g/%f conversion); a NaN is written "nan"
// whatever its sign bit (printf writes x86's default NaN as "-nan").
inline void append_format(std::string& out, const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, std::isnan(v) ? std::fabs(v) : v);
  out += buf;
}
}  // namespace detail

// One line (no newline) for epoch `epoch` of `history`, e.g.
//   epoch 3/10  train loss 0.223  train acc 93.54%  test loss 0.0636  test acc 97.88%  lr 0.001  21.9s  2745 img/s  test 1.2s
// Unmeasured quantities are left out; a non-finite loss shows as nan or inf.
// `epochs` is the run's length (0: "epoch 3" alone). Throws Error if the
// history has no such epoch.
inline std::string format_epoch_line(const History& history, int epoch, int epochs = 0) {
  const EpochStats* s = history.find(epoch);
  CAE_CHECK(s != nullptr, Error, "format_epoch_line: the history has no epoch ", epoch, " (it has ",
            history.epochs.size(), " epochs)");
  std::string out = "epoch " + std::to_string(epoch);
  if (epochs > 0) out += "/" + std::to_string(epochs);
  if (measured(s->train_loss)) detail::append_format(out, "  train loss %.6g", s->train_loss);
  if (measured(s->train_accuracy))
    detail::append_format(out, "  train acc %.2f%%", 100 * s->train_accuracy);
  if (measured(s->test_loss)) detail::append_format(out, "  test loss %.6g", s->test_loss);
  if (measured(s->test_accuracy))
    detail::append_format(out, "  test acc %.2f%%", 100 * s->test_accuracy);
  if (measured(s->lr)) detail::append_format(out, "  lr %.3g", s->lr);
  detail::append_format(out, "  %.1fs", s->seconds);
  detail::append_format(out, "  %.0f img/s", s->images_per_second);
  if (measured(s->test_seconds)) detail::append_format(out, "  test %.1fs", s->test_seconds);
  return out;
}

enum class ProgressMode { off, live, plain };

// The mode for FitOptions::progress(setting): 0 off; 1 on, live on a terminal
// and plain otherwise; -1 (the default) like 1, except that the plain form is
// left out when `verbose` already prints one line per epoch.
inline ProgressMode progress_mode(int setting, bool verbose) {
  if (setting == 0) return ProgressMode::off;
  if (stderr_is_terminal()) return ProgressMode::live;
  return setting < 0 && verbose ? ProgressMode::off : ProgressMode::plain;
}

class ProgressBar {
 public:
  // `total` batches, of which `done` were already done before this pass
  // started (a resumed epoch): the rate and ETA count only this pass's.
  ProgressBar(ProgressMode mode, std::string label, long total, long done = 0)
      : mode_(mode), label_(std::move(label)), total_(total), first_(done),
        start_(std::chrono::steady_clock::now()), last_draw_(start_) {}
  // The former interface: a live bar when `enabled`.
  ProgressBar(bool enabled, std::string label, long total)
      : ProgressBar(enabled ? ProgressMode::live : ProgressMode::off, std::move(label), total) {}

  // Records batch `done` of total (1-based), the running mean loss and the
  // images of this pass; redraws at most ten times a second, so drawing never
  // costs training time.
  void update(long done, double loss, long images) {
    done_ = done, images_ = images;
    if (mode_ != ProgressMode::live) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const double elapsed = seconds_since_start(now);
    const double rate = elapsed > 0 ? images / elapsed : 0;
    const long this_pass = done - first_;
    const double eta = this_pass > 0 ? elapsed * static_cast<double>(total_ - done) / this_pass : -1;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
    std::fprintf(stderr, "\r%s [%s] %ld/%ld loss %.5g  %.0f img/s  %s elapsed  ETA %s\033[K",
                 label_.c_str(), bar.c_str(), done, total_, loss, rate,
                 format_duration(elapsed).c_str(), format_duration(eta).c_str());
    std::fflush(stderr);
  }
  // Ends the pass: clears the live bar (the caller prints the epoch's line),
  // or writes the plain form's line.
  void finish() {
    if (finished_) return;
    finished_ = true;
    if (mode_ == ProgressMode::live) {
      std::fprintf(stderr, "\r\033[K");
    } else if (mode_ == ProgressMode::plain) {
      const double elapsed = seconds_since_start(std::chrono::steady_clock::now());
      std::fprintf(stderr, "%s: %ld/%ld batches in %s (%.0f img/s)\n", label_.c_str(), done_, total_,
                   format_duration(elapsed).c_str(), elapsed > 0 ? images_ / elapsed : 0.0);
    }
    if (mode_ != ProgressMode::off) std::fflush(stderr);
  }
  ProgressMode mode() const { return mode_; }
  // An exception that ends the pass leaves no half-drawn bar behind.
  ~ProgressBar() {
    if (mode_ == ProgressMode::live && !finished_) std::fprintf(stderr, "\r\033[K");
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  double seconds_since_start(std::chrono::steady_clock::time_point now) const {
    return std::chrono::duration<double>(now - start_).count();
  }

  ProgressMode mode_;
  std::string label_;
  long total_, first_, done_ = 0, images_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cae::train
