// ControlSignals: SIGTERM, SIGINT and SIGHUP delivered to the main thread.
//
// libmilter runs a thread of its own that sigwait()s for the same signals
// and stops the milter on any of them (a SIGHUP included). The kernel hands
// a process signal to the main thread whenever the main thread does not
// block it, so: every other thread blocks them, and the main thread takes
// them with a handler that only writes the signal number to a pipe. The
// handler runs with SA_NODEFER, so the main thread never blocks them, not
// even while it handles one. The main loop reads the pipe at its leisure.
//
// Order: block() before any thread; threads started before listen()
// inherit the block; after listen(), start threads with start_thread(),
// which blocks them from their first instruction on.
#pragma once

#include <functional>
#include <thread>
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

  // Unblocks the signals in the calling (main) thread only. Signals that
  // arrived while they were blocked are handled now.
  void listen();

  // Starts a thread that runs `body` with the signals blocked; `body` only
  // begins once the calling thread has its own mask back, so no signal
  // finds every thread blocked but a sigwait()ing one (libmilter's).
  static std::thread start_thread(std::function<void()> body);

  // What wait() returns after wake() (no signal has number 0).
  static constexpr int kWoken = 0;
  // Wakes wait() from any thread, without a signal: a process-directed
  // signal may be taken by libmilter's sigwait() thread instead of the
  // main thread. Async-signal-safe; a no-op before block().
  static void wake();

  // The next signal received (or kWoken), or nullopt after `timeout`
  // (none: wait).
  std::optional<int> wait(std::optional<std::chrono::milliseconds> timeout);

 private:
  explicit ControlSignals(int read_fd) : read_fd_(read_fd) {}
  int read_fd_ = -1;
};

}  // namespace greylist
