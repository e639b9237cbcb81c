// BdbMaintenance: a BdbStore's background thread.
//
// Every checkpoint_interval (unless zero) it checkpoints the environment.
// For the owner of shared regions (another process may hold locks in them)
// it also ends lock waits past their timeout every 250 ms and releases the
// locks of dead processes (failchk) every second, before a request waits
// for them. Failures are logged; the thread carries on.
// Thread-safety: construct and destroy from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace greylist {

class BdbEnvironment;

class BdbMaintenance {
 public:
  // Whether a store with this environment needs the thread at all.
  static bool needed(const BdbEnvironment& environment, std::chrono::seconds checkpoint_interval);

  // Starts the thread (std::system_error when it cannot). `environment`
  // must outlive this object.
  BdbMaintenance(BdbEnvironment& environment, std::chrono::seconds checkpoint_interval);
  // Stops the thread and waits for it (a checkpoint in progress ends first).
  ~BdbMaintenance();
  BdbMaintenance(const BdbMaintenance&) = delete;
  BdbMaintenance& operator=(const BdbMaintenance&) = delete;

 private:
  void run();

  BdbEnvironment& environment_;
  const std::chrono::seconds checkpoint_interval_;
  std::mutex mutex_;
  std::condition_variable wakeup_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace greylist
