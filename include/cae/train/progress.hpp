// Progress display for training: a live bar with loss, images/s and ETA when
// stdout is a terminal; nothing per batch otherwise (logs get per-epoch lines).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace cae::train {

inline bool stdout_is_terminal() { return ::isatty(::fileno(stdout)) == 1; }

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

class ProgressBar {
 public:
  ProgressBar(bool enabled, std::string label, long total)
      : enabled_(enabled), label_(std::move(label)), total_(total),
        start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

  // Redraws at most ten times a second, so drawing never costs training time.
  void update(long done, double loss, long images) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.1) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? images / elapsed : 0;
    const double eta = done > 0 ? elapsed * (total_ - done) / done : -1;
    const int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
    std::printf("\r%s [%s] %ld/%ld loss %.5g  %.0f img/s  ETA %s   ", label_.c_str(), bar.c_str(),
                done, total_, loss, rate, format_duration(eta).c_str());
    std::fflush(stdout);
  }
  void finish() {
    if (!enabled_) return;
    std::printf("\r\033[K");  // clear the bar; the caller prints the epoch's line
    std::fflush(stdout);
  }

 private:
  bool enabled_;
  std::string label_;
  long total_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cae::train
