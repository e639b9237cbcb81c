// SigpipeGuard: no SIGPIPE from this thread's socket writes.
//
// A write(2) to a connection the peer has closed raises SIGPIPE. While a
// guard lives, SIGPIPE is blocked in the calling thread; one raised
// meanwhile is discarded before the old mask is restored (a SIGPIPE that
// was already pending stays pending). Create and destroy it on one thread.
#pragma once

#include <signal.h>

namespace greylist {

class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

  // Whether the process ignores SIGPIPE (then no guard is needed).
  static bool ignored();

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool was_blocked_ = false;
};

}  // namespace greylist
