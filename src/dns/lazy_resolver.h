// LazyResolver: the daemon's one DnsResolver for the rules' DNS lists. Its
// AresResolver (and that resolver's thread) exists only once start() is
// called, which the daemon does when the rules name a DNS list (at start
// or on a reload), so a daemon without DNS lists runs no resolver.
//
// Until start() succeeded, and after stop(), resolve() answers at once,
// every name kFailed ("not listed"). Thread-safe: resolve() may run on any
// thread while start() or stop() run on another.
#pragma once

#include <memory>
#include <mutex>

#include "greylist/ares_resolver.h"

namespace greylist {

class LazyResolver final : public DnsResolver {
 public:
  explicit LazyResolver(AresResolverOptions options) : options_(std::move(options)) {}

  // Creates the AresResolver unless it runs already; AresResolver::create's
  // errors (a bad server, c-ares unable to start). Not after stop().
  Status start();
  bool started() const;

  // Destroys the AresResolver: lookups still pending are answered kFailed
  // before stop() returns, so their callbacks have all run by then. Call it
  // after the front ends stopped serving and before they are destroyed.
  void stop();

  void resolve(std::vector<std::string> names, Callback done) override;

 private:
  const AresResolverOptions options_;
  mutable std::mutex mutex_;
  std::shared_ptr<AresResolver> resolver_;  // guarded by mutex_
  bool stopped_ = false;                    // guarded by mutex_
};

}  // namespace greylist
