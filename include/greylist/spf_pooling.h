// SpfPooling: the front ends' SPF step for --pool-by-spf. Before a request
// is decided, the client's SPF result for the envelope sender's domain
// (RFC 7208's MAIL FROM identity; the client address; the HELO name for the
// %{h} macro) is asked of the SpfChecker: the policy front end without
// blocking its event loop (async_check_spf), a milter thread with
// check_and_wait() for at most `wait`. A pass that identifies a pool of
// senders sets Request::spf_pass_domain, and the core keys the triplet on
// that domain (key_layout.h); every other result, and a pass that
// authorizes (nearly) the whole Internet (spf_pass_not_a_pool()), leaves it
// empty: the triplet is keyed by network, as without the option. A
// temperror (a DNS failure or timeout) is logged, at most once per
// interval with the count of the others.
//
// Thread-safe (the checker and the log are).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "greylist/request.h"
#include "greylist/spf_checker.h"

namespace greylist {

class RateLimitedLog;

// Told of every SPF result a front end got for a request (metrics). Must be
// thread-safe, quick, and must not throw.
class SpfResultObserver {
 public:
  virtual ~SpfResultObserver() = default;
  virtual void on_spf_result(SpfResult result) noexcept = 0;
};

struct SpfPooling {
  // nullptr: --pool-by-spf is off (or the daemon has no resolver): no check.
  SpfChecker* checker = nullptr;
  // The longest a milter thread waits for a verdict (--dns-timeout; the
  // checker's own deadline bounds the evaluation).
  std::chrono::milliseconds wait{1000};
  // Where temperrors are logged; nullptr: not logged.
  std::shared_ptr<RateLimitedLog> temperror_log;
  // The DNS servers asked, as the temperror line names them
  // ("127.0.0.1:5353,[2001:db8::1]:53": AresRecordResolver::servers()).
  std::string dns_servers;
  SpfResultObserver* observer = nullptr;  // nullptr: results not counted
};

// The identity to check for `request`, nullopt when nothing is checked: the
// option off, the null sender (a bounce: its identity would be the HELO
// name), a sender without a domain, or a client address that does not parse.
std::optional<SpfIdentity> spf_pool_identity(const SpfPooling& pooling, const Request& request);

// Whether a verdict names no pool of senders: nullopt when it does (a pass
// through a mechanism that names the domain's own hosts or networks), else
// why not, "TERM...: not a sender pool":
// - a pass through `all` (+ or no qualifier), an ip4 (or a/mx ip4
//   cidr-length) range shorter than /8, an ip6 (or a/mx ip6 cidr-length)
//   range shorter than /24 (real providers publish /14 and /36 at most);
// - a pass through a, mx or exists whose probe (SpfVerdict::probe,
//   SpfCheckerOptions::probe_passes) passed too, or got no answer: the
//   record would authorize an address no mail server can have, so it
//   matched through a wildcard A record or a server answering any %{i};
// - a pass through ptr whose target is not the domain of the record that
//   holds it or a name under it ("ptr:isp.example" in a stranger's record
//   is every host of that ISP with a PTR name, a botnet's included; the
//   plain `ptr` of a domain is hosts it named itself, in reverse zones it
//   was delegated: a pool).
// A verdict that was not probed is judged by the first rule only.
// TERM is DNS text: make it printable. Every result other than pass gives
// "RESULT: not a pass".
std::optional<std::string> spf_pass_not_a_pool(const SpfVerdict& verdict);

// Sets request.spf_pass_domain to the identity's domain on a pass that is
// a sender pool (logging one that is not at debug level), clears it
// otherwise; tells pooling.observer the result; logs a temperror
// (rate-limited):
//   "SPF check of DOMAIN for ADDRESS failed (WHY) at SERVERS: keyed by
//    network (--pool-by-spf)"
// with " (N similar messages suppressed)" when others were not logged.
void apply_spf_verdict(const SpfPooling& pooling, const SpfIdentity& identity,
                       const SpfVerdict& verdict, Request& request);

// Both, waiting for the verdict (at most pooling.wait): for milter threads
// and callers without an event loop. Does nothing when there is nothing to
// check.
void check_spf_and_wait(const SpfPooling& pooling, Request& request);

}  // namespace greylist
