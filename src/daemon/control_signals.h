// ControlSignals: SIGTERM, SIGINT and SIGHUP delivered to the main thread.
//
// libmilter runs a thread of its own that sigwait()s for the same signals
// and stops the milter on any of them (a SIGHUP included). The kernel hands
// a process signal to the main thread whenever the main thread does not
// block it, so: every other thread blocks them (block() before any thread
// is started), and the main thread takes them with a handler that only
// writes the signal number to a pipe, unblocked at all times but during
// that one write. The main loop reads the pipe at its leisure.
#pragma once

#include <chrono>
#include <optional>

#include "greylist/status.h"

namespace greylist {

class ControlSignals {
 public:
  // Blocks the signals in the calling thread, and so in every thread it
  // starts afterwards. Installs the handlers. Call once, before any thread.
  static Result<ControlSignals> block();
  ControlSignals(ControlSignals&& other) noexcept;
  ControlSignals& operator=(ControlSignals&&) = delete;
  ~ControlSignals();

  // Unblocks the signals in the calling (main) thread only. Call once the
  // other threads have been started.
  void listen();

  // The next signal received, or nullopt after `timeout` (none: wait).
  std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout);

 private:
  explicit ControlSignals(int read_fd) : read_fd_(read_fd) {}
  int read_fd_ = -1;
};

}  // namespace greylist
