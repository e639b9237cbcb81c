#include "daemon/front_end_threads.h"

#include "daemon/control_signals.h"
#include "util/log.h"

namespace greylist {

void FrontEndThreads::start(const std::string& name, std::function<void()> run) {
  threads_.push_back(ControlSignals::start_thread([this, name, run = std::move(run)] {
    run();
    finished(name);
  }));
}

void FrontEndThreads::finished(const std::string& name) {
  if (stop_requested_.load()) return;
  {
    std::lock_guard lock(mutex_);
    if (!stopped_unasked_) stopped_unasked_ = name;
  }
  log_error("the " + name + " front end stopped without being asked to: stopping the daemon "
            "with a failure status, for the service manager to start it again");
  ControlSignals::wake();
}

std::optional<std::string> FrontEndThreads::stopped_unasked() const {
  std::lock_guard lock(mutex_);
  return stopped_unasked_;
}

void FrontEndThreads::join_all() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace greylist
