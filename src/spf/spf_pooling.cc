#include "greylist/spf_pooling.h"

#include <string>

#include "greylist/log_line.h"
#include "spf/spf_names.h"
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

namespace {

// Whether a pass through `m` is too wide by its own terms: `all`, or a
// network (ip4, ip6, a or mx with its cidr length) wider than any
// provider's.
bool too_wide(const SpfMatch& m) {
  constexpr int kShortestIpv4Pool = 8;
  constexpr int kShortestIpv6Pool = 24;
  switch (m.mechanism) {
    case SpfMechanism::kAll: return true;
    case SpfMechanism::kIp4:
    case SpfMechanism::kIp6:
    case SpfMechanism::kA:
    case SpfMechanism::kMx: return m.prefix < (m.ipv6 ? kShortestIpv6Pool : kShortestIpv4Pool);
    case SpfMechanism::kPtr:
    case SpfMechanism::kNone:
    case SpfMechanism::kExists: return false;
  }
  return false;
}

}  // namespace

std::optional<std::string> spf_pass_not_a_pool(const SpfVerdict& verdict) {
  if (verdict.result != SpfResult::kPass) return std::string(to_string(verdict.result)) + ": not a pass";
  const SpfMatch& m = verdict.matched;
  if (too_wide(m)) return m.term + ": not a sender pool";
  // ptr names the hosts whose validated PTR name is under its target: the
  // domain's own hosts only when the target is under the domain whose
  // record holds it; "ptr:isp.example" is every customer of that ISP.
  if (m.mechanism == SpfMechanism::kPtr && !spf::is_within(m.target, m.domain)) {
    return m.term + ": names outside " + m.domain + ": not a sender pool";
  }
  // a, mx, exists: a wildcard (or an echo of %{i}) passes any address.
  if (verdict.probe == SpfResult::kPass) return m.term + ": passes a probe address too: not a sender pool";
  if (verdict.probe == SpfResult::kTemperror) return m.term + ": probe unanswered: not a sender pool";
  return std::nullopt;
}

void apply_spf_verdict(const SpfPooling& pooling, const SpfIdentity& identity,
                       const SpfVerdict& verdict, Request& request) {
  request.spf_pass_domain.clear();
  if (pooling.observer != nullptr) pooling.observer->on_spf_result(verdict.result);
  if (verdict.result == SpfResult::kPass) {
    const auto not_a_pool = spf_pass_not_a_pool(verdict);
    if (!not_a_pool) {
      request.spf_pass_domain = dns_canonical_name(identity.domain);
    } else {
      log_debug("SPF pass of " + printable(identity.domain, 253) + " for " +
                printable(request.client_address, 64) + " (" + printable(*not_a_pool) +
                "): keyed by network (--pool-by-spf)");
    }
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
