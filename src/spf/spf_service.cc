#include "spf/spf_service.h"

#include "util/log.h"

namespace greylist {

namespace {

// "127.0.0.1:5353", "192.0.2.1,192.0.2.2", or where c-ares finds them.
std::string servers_text(const std::vector<std::string>& servers) {
  if (servers.empty()) return "the /etc/resolv.conf servers";
  std::string text;
  for (const auto& server : servers) text += (text.empty() ? "" : ",") + server;
  return text;
}

}  // namespace

Status SpfService::start(bool on, const AresResolverOptions& dns, SpfResultObserver* observer) {
  if (!on || checker_ != nullptr) return Status::Ok();
  auto created = AresRecordResolver::create(dns);
  if (!created.ok()) return created.status();
  resolver_ = std::move(created).value();
  SpfCheckerOptions options;
  options.timeout = dns.timeout;
  options.probe_passes = true;
  checker_ = std::make_unique<SpfChecker>(*resolver_, options);
  pooling_.checker = checker_.get();
  pooling_.wait = dns.timeout;
  pooling_.temperror_log = std::make_shared<RateLimitedLog>(dns.failure_log_interval);
  pooling_.dns_servers = servers_text(dns.servers);
  pooling_.observer = observer;
  return Status::Ok();
}

SpfPooling SpfService::pooling() const { return pooling_; }

void SpfService::stop() {
  pooling_.checker = nullptr;
  checker_.reset();
  resolver_.reset();
}

}  // namespace greylist
