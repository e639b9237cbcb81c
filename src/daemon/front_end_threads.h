// FrontEndThreads: the threads that run the front ends (policy, milter)
// beside the main loop, and what their ending means.
//
// A front end's run() returns after stop() was asked for, or on its own (a
// listener error, libmilter's loop returning). On its own, the daemon can
// no longer do its job: the thread logs an error naming the front end and
// wakes the main loop (ControlSignals::wake(), not a signal libmilter's
// thread could take), which then stops the daemon with a non-zero status,
// so that the service manager starts it again.
//
// start() and request_stop() are called by the main thread; the front
// ends' threads only report their end. join_all() before destruction.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace greylist {

class FrontEndThreads {
 public:
  FrontEndThreads() = default;
  FrontEndThreads(const FrontEndThreads&) = delete;
  FrontEndThreads& operator=(const FrontEndThreads&) = delete;
  ~FrontEndThreads() { join_all(); }

  // Runs `run` on a thread with the control signals blocked
  // (ControlSignals::start_thread); `name` ("milter", "policy") names it in
  // the log.
  void start(const std::string& name, std::function<void()> run);

  // From now on a front end that returns was asked to (call before its
  // stop()).
  void request_stop() { stop_requested_.store(true); }

  // The first front end that returned on its own, if any.
  std::optional<std::string> stopped_unasked() const;

  void join_all();

 private:
  void finished(const std::string& name);

  std::atomic<bool> stop_requested_{false};
  mutable std::mutex mutex_;
  std::optional<std::string> stopped_unasked_;
  std::vector<std::thread> threads_;
};

}  // namespace greylist
