#include "store/bdb_maintenance.h"

#include "store/bdb_environment.h"
#include "util/log.h"

namespace greylist {
namespace {

// How often the owner of shared regions ends lock waits past their timeout
// (Berkeley DB checks timeouts only when asked) and looks for locks of dead
// processes by itself.
constexpr std::chrono::milliseconds kMaintenanceTick{250};
constexpr int kTicksPerFailchk = 4;

bool owns_shared_regions(const BdbEnvironment& environment) {
  return environment.shared_regions() && !environment.joined();
}

}  // namespace

bool BdbMaintenance::needed(const BdbEnvironment& environment,
                            std::chrono::seconds checkpoint_interval) {
  return checkpoint_interval.count() > 0 || owns_shared_regions(environment);
}

BdbMaintenance::BdbMaintenance(BdbEnvironment& environment, std::chrono::seconds checkpoint_interval)
    : environment_(environment), checkpoint_interval_(checkpoint_interval) {
  thread_ = std::thread([this] { run(); });
}

BdbMaintenance::~BdbMaintenance() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wakeup_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BdbMaintenance::run() {
  const bool shared = owns_shared_regions(environment_);
  const bool checkpoints = checkpoint_interval_.count() > 0;
  const auto tick = shared ? kMaintenanceTick
                           : std::chrono::duration_cast<std::chrono::milliseconds>(
                                 checkpoint_interval_);
  auto next_checkpoint = std::chrono::steady_clock::now() + checkpoint_interval_;
  std::unique_lock lock(mutex_);
  for (int ticks = 1;; ++ticks) {
    if (wakeup_.wait_for(lock, tick, [this] { return stopping_; })) return;
    lock.unlock();
    if (shared) environment_.end_dead_lock_waits(ticks % kTicksPerFailchk == 0);
    if (checkpoints && std::chrono::steady_clock::now() >= next_checkpoint) {
      next_checkpoint = std::chrono::steady_clock::now() + checkpoint_interval_;
      if (Status s = environment_.checkpoint(); !s.ok()) log_error(s.message());
    }
    lock.lock();
  }
}

}  // namespace greylist
