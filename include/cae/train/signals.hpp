// Graceful interruption of training: while an InterruptGuard lives (Trainer::fit
// holds one), the first SIGINT (Ctrl-C) or SIGTERM only sets a flag, which
// fit reads after every batch to save a resumable checkpoint and throw
// Interrupted; a second one ends the process at once, as it would without
// cae. The handlers in place before are restored when the guard ends.
#pragma once

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <signal.h>
#include <unistd.h>

#include "cae/error.hpp"

namespace cae::train {

// Thrown by Trainer::fit after a SIGINT or SIGTERM, once the batch under way
// has finished and a checkpoint (when FitOptions::checkpoint is set) holds
// everything needed to go on: calling fit again with resume(true) continues
// from the next batch and gives the same weights, bit for bit, as a run never
// interrupted. what() says where training stopped and what was saved.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& what, int signal_number) : Error(what), signal_(signal_number) {}
  int signal_number() const { return signal_; }

 private:
  int signal_;
};

namespace detail {
// 0, or the number of the first signal received while a guard is active. A
// lock-free atomic is safe to touch in a handler, and visible to every
// thread (the signal may land on the data loader's thread).
inline std::atomic<int> pending_interrupt{0};
inline std::atomic<bool> interrupt_guard_active{false};

inline void write_stderr(const char* text) {
  // write() is async-signal-safe, stdio is not.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

inline void interrupt_handler(int sig) {
  if (pending_interrupt.exchange(sig) != 0) {
    // The second signal: the default action (termination) once this handler
    // returns, since the signal is blocked while its handler runs.
    write_stderr("\ncae: second signal, stopping at once\n");
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    ::sigaction(sig, &dfl, nullptr);
    ::raise(sig);
    return;
  }
  write_stderr(sig == SIGINT ? "\ncae: SIGINT received" : "\ncae: SIGTERM received");
  write_stderr(": finishing the current batch and saving a checkpoint (send it again to stop at once)\n");
}
}  // namespace detail

// Installs the handler for SIGINT and SIGTERM and restores the previous ones
// when destroyed. A guard created while another is active does nothing, so
// nested fits share the outer one.
class InterruptGuard {
 public:
  InterruptGuard() {
    bool expected = false;
    if (!detail::interrupt_guard_active.compare_exchange_strong(expected, true)) return;
    owner_ = true;
    detail::pending_interrupt.store(0);
    struct sigaction sa {};
    sa.sa_handler = detail::interrupt_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // a read() under way (data loading) goes on rather than failing with EINTR
    if (::sigaction(SIGINT, &sa, &previous_int_) != 0) {
      const int err = errno;
      detail::interrupt_guard_active.store(false);
      throw Error(str("InterruptGuard: could not install a SIGINT handler: ", std::strerror(err)));
    }
    if (::sigaction(SIGTERM, &sa, &previous_term_) != 0) {
      const int err = errno;
      ::sigaction(SIGINT, &previous_int_, nullptr);
      detail::interrupt_guard_active.store(false);
      throw Error(str("InterruptGuard: could not install a SIGTERM handler: ", std::strerror(err)));
    }
  }
  ~InterruptGuard() {
    if (!owner_) return;
    ::sigaction(SIGINT, &previous_int_, nullptr);
    ::sigaction(SIGTERM, &previous_term_, nullptr);
    detail::pending_interrupt.store(0);
    detail::interrupt_guard_active.store(false);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal received since the guard was installed (SIGINT, SIGTERM), or 0.
  static int pending() { return detail::pending_interrupt.load(); }

 private:
  bool owner_ = false;
  struct sigaction previous_int_ {}, previous_term_ {};
};

}  // namespace cae::train
