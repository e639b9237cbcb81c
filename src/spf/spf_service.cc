#include "spf/spf_service.h"

#include "util/log.h"

namespace greylist {

Status SpfService::start(bool on, const AresResolverOptions& dns, SpfResultObserver* observer) {
  if (!on || checker_ != nullptr) return Status::Ok();
  auto created = AresRecordResolver::create(dns);
  if (!created.ok()) return created.status();
  resolver_ = std::move(created).value();
  SpfCheckerOptions options;
  options.timeout = dns.timeout;
  options.probe_passes = true;
  {
    std::lock_guard lock(mutex_);
    checker_ = std::make_unique<SpfChecker>(*resolver_, options);
    final_stats_.reset();
  }
  pooling_.checker = checker_.get();
  pooling_.wait = dns.timeout;
  pooling_.temperror_log = std::make_shared<RateLimitedLog>(dns.failure_log_interval);
  pooling_.dns_servers = resolver_->servers();
  pooling_.observer = observer;
  return Status::Ok();
}

SpfPooling SpfService::pooling() const { return pooling_; }

std::optional<SpfCheckerStats> SpfService::checker_stats() const {
  std::lock_guard lock(mutex_);
  if (checker_ != nullptr) return checker_->stats();
  return final_stats_;
}

void SpfService::stop() {
  pooling_.checker = nullptr;
  std::unique_ptr<SpfChecker> checker;
  {
    std::lock_guard lock(mutex_);
    if (checker_ != nullptr) final_stats_ = checker_->stats();
    checker = std::move(checker_);
  }
  checker.reset();
  resolver_.reset();
}

}  // namespace greylist
