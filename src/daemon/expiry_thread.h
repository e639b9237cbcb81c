// ExpiryThread: runs the ExpirySweeper in the background for the daemon.
//
// Sweeps one batch, then pauses, so expiry never holds the store long; a
// full pass over both tables is followed by a longer rest. Store errors are
// logged (rate-limited) and the sweep simply tries again later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "greylist/expiry_sweeper.h"
#include "util/log.h"

namespace greylist {

struct ExpiryPace {
  std::size_t batch = 500;
  std::chrono::milliseconds between_batches{100};
  std::chrono::seconds between_passes{600};
};

class ExpiryThread {
 public:
  // Starts the thread. config/store/clock must outlive this object; `rules`
  // as ExpirySweeper's (the Greylister's rules, for their autowhite).
  ExpiryThread(const GreylistConfig& config, Store& store, const Clock& clock,
               ExpiryPace pace = ExpiryPace(), ExpirySweeper::RulesSource rules = {});
  ~ExpiryThread();  // stop()s

  // Wakes the thread and joins it; idempotent.
  void stop();

  // The sweep uses `config` from its next batch on (SIGHUP). Thread-safe.
  void set_config(const GreylistConfig& config);

 private:
  void loop();

  ExpirySweeper sweeper_;
  ExpiryPace pace_;
  RateLimitedLog error_log_{std::chrono::seconds(60)};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<GreylistConfig> next_config_;  // set_config()'s, until the loop takes it
  std::thread thread_;
};

}  // namespace greylist
