// SpfPooling: the front ends' SPF step for --pool-by-spf. Before a request
// is decided, the client's SPF result for the envelope sender's domain
// (RFC 7208's MAIL FROM identity; the client address; the HELO name for the
// %{h} macro) is asked of the SpfChecker: the policy front end without
// blocking its event loop (async_check_spf), a milter thread with
// check_and_wait() for at most `wait`. A pass sets Request::spf_pass_domain,
// and the core keys the triplet on that domain (key_layout.h); every other
// result leaves it empty: the triplet is keyed by network, as without the
// option. A temperror (a DNS failure or timeout) is logged, at most once per
// interval with the count of the others.
//
// Thread-safe (the checker and the log are).
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "greylist/request.h"
#include "greylist/spf_checker.h"

namespace greylist {

class RateLimitedLog;

struct SpfPooling {
  // nullptr: --pool-by-spf is off (or the daemon has no resolver): no check.
  SpfChecker* checker = nullptr;
  // The longest a milter thread waits for a verdict (--dns-timeout; the
  // checker's own deadline bounds the evaluation).
  std::chrono::milliseconds wait{1000};
  // Where temperrors are logged; nullptr: not logged.
  std::shared_ptr<RateLimitedLog> temperror_log;
};

// The identity to check for `request`, nullopt when nothing is checked: the
// option off, the null sender (a bounce: its identity would be the HELO
// name), a sender without a domain, or a client address that does not parse.
std::optional<SpfIdentity> spf_pool_identity(const SpfPooling& pooling, const Request& request);

// Sets request.spf_pass_domain to the identity's domain on a pass, clears
// it otherwise; logs a temperror (rate-limited).
void apply_spf_verdict(const SpfPooling& pooling, const SpfIdentity& identity,
                       const SpfVerdict& verdict, Request& request);

// Both, waiting for the verdict (at most pooling.wait): for milter threads
// and callers without an event loop. Does nothing when there is nothing to
// check.
void check_spf_and_wait(const SpfPooling& pooling, Request& request);

}  // namespace greylist
