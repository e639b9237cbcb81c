// SpfService: the SPF checker of --pool-by-spf with the resolver it runs
// on (an AresRecordResolver of its own: --dns-server, --dns-timeout) and
// the log of its temperrors. Nothing exists, and no thread runs, unless
// start() is called with the option on.
//
// The checker's deadline and a milter thread's wait are both --dns-timeout:
// a verdict that takes longer is a temperror, and the triplet is keyed by
// network. Temperrors are logged once per the resolver's
// failure_log_interval, naming the DNS servers (--dns-server, or those of
// /etc/resolv.conf).
//
// start() and stop() from one thread (the daemon's main thread, or a tool);
// pooling() is what the front ends are given; checker_stats() from any.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include "greylist/ares_record_resolver.h"
#include "greylist/spf_checker.h"
#include "greylist/spf_pooling.h"
#include "greylist/status.h"

namespace greylist {

class SpfService {
 public:
  SpfService() = default;
  ~SpfService() { stop(); }
  SpfService(const SpfService&) = delete;
  SpfService& operator=(const SpfService&) = delete;

  // `on` false: nothing. Else creates the resolver and the checker;
  // AresRecordResolver::create's errors (a bad --dns-server). `observer`
  // (may be nullptr; must outlive the service) counts every result.
  Status start(bool on, const AresResolverOptions& dns, SpfResultObserver* observer = nullptr);

  // checker nullptr until start() succeeded with the option on.
  SpfPooling pooling() const;

  // The checker's counters (for --metrics): nullopt until start() succeeded
  // with the option on; after stop(), those it had then. Thread-safe.
  std::optional<SpfCheckerStats> checker_stats() const;

  // The checker, then the resolver (whose destructor answers the lookups
  // still pending): call it once the front ends stopped serving, before
  // their executors are destroyed.
  void stop();

 private:
  std::unique_ptr<AresRecordResolver> resolver_;
  mutable std::mutex mutex_;  // guards checker_ (not its use by the front ends) and final_stats_
  std::unique_ptr<SpfChecker> checker_;
  std::optional<SpfCheckerStats> final_stats_;
  SpfPooling pooling_;
};

}  // namespace greylist
