#include "daemon/expiry_thread.h"

#include <utility>

namespace greylist {

ExpiryThread::ExpiryThread(const GreylistConfig& config, Store& store, const Clock& clock,
                           ExpiryPace pace, ExpirySweeper::RulesSource rules)
    : sweeper_(config, store, clock, std::move(rules)), pace_(pace), thread_([this] { loop(); }) {}

ExpiryThread::~ExpiryThread() { stop(); }

void ExpiryThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ExpiryThread::set_config(const GreylistConfig& config) {
  std::lock_guard lock(mutex_);
  next_config_ = config;
}

void ExpiryThread::loop() {
  std::size_t erased_this_pass = 0;
  std::size_t scanned_this_pass = 0;
  std::size_t newer_this_pass = 0;
  for (;;) {
    std::chrono::milliseconds pause = pace_.between_batches;
    {
      std::lock_guard lock(mutex_);
      if (next_config_) sweeper_.set_config(*std::exchange(next_config_, std::nullopt));
    }
    auto step = sweeper_.step(pace_.batch);
    if (!step.ok()) {
      error_log_.log(Severity::kWarning, "expiry sweep: " + step.status().message());
      pause = std::chrono::duration_cast<std::chrono::milliseconds>(pace_.between_passes);
    } else {
      erased_this_pass += step.value().erased + step.value().undecodable;
      scanned_this_pass += step.value().scanned;
      newer_this_pass += step.value().newer_kept;
      if (step.value().undecodable > 0) {
        log_warning("expiry sweep removed " + std::to_string(step.value().undecodable) +
                    " damaged entries (of no known format)");
      }
      if (step.value().pass_finished) {
        log_info("expiry sweep finished: " + std::to_string(scanned_this_pass) +
                 " entries checked, " + std::to_string(erased_this_pass) + " expired");
        if (newer_this_pass > 0) {
          // Once per sweep: a downgrade, the entries wait for the newer release.
          log_warning("expiry sweep kept " + std::to_string(newer_this_pass) +
                      " entries of a newer format version (written by a newer greylist-milter; "
                      "this one cannot read them and leaves them alone)");
        }
        erased_this_pass = scanned_this_pass = newer_this_pass = 0;
        pause = std::chrono::duration_cast<std::chrono::milliseconds>(pace_.between_passes);
      }
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, pause, [this] { return stopping_; })) return;
  }
}

}  // namespace greylist
