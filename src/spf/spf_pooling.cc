#include "greylist/spf_pooling.h"

#include <string>

#include "greylist/log_line.h"
#include "util/log.h"

namespace greylist {

std::optional<SpfIdentity> spf_pool_identity(const SpfPooling& pooling, const Request& request) {
  if (pooling.checker == nullptr || request.sender.empty()) return std::nullopt;
  const auto at = request.sender.rfind('@');
  if (at == std::string::npos || at + 1 == request.sender.size()) return std::nullopt;
  const auto client = IpAddress::parse(request.client_address);
  if (!client) return std::nullopt;
  return SpfIdentity::mail_from(*client, request.sender, request.helo_name);
}

void apply_spf_verdict(const SpfPooling& pooling, const SpfIdentity& identity,
                       const SpfVerdict& verdict, Request& request) {
  request.spf_pass_domain.clear();
  if (pooling.observer != nullptr) pooling.observer->on_spf_result(verdict.result);
  if (verdict.result == SpfResult::kPass) {
    request.spf_pass_domain = dns_canonical_name(identity.domain);
    return;
  }
  if (verdict.result == SpfResult::kTemperror && pooling.temperror_log != nullptr) {
    pooling.temperror_log->log(
        Severity::kWarning, "SPF check of " + printable(identity.domain, 253) + " for " +
                                printable(request.client_address, 64) + " failed (" +
                                printable(verdict.reason) + ") at " +
                                printable(pooling.dns_servers, 256) +
                                ": keyed by network (--pool-by-spf)");
  }
}

void check_spf_and_wait(const SpfPooling& pooling, Request& request) {
  auto identity = spf_pool_identity(pooling, request);
  if (!identity) return;
  const SpfVerdict verdict = pooling.checker->check_and_wait(*identity, pooling.wait);
  apply_spf_verdict(pooling, *identity, verdict, request);
}

}  // namespace greylist
