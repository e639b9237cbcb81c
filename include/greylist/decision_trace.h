// DecisionTrace: told what each step of Greylister's decision found, in the
// order the steps run (greylistctl whitelist-check narrates it). Every
// argument is only valid during the call. A step not reached (an earlier one
// decided) is not reported.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "greylist/dns_resolver.h"
#include "greylist/record_codec.h"
#include "greylist/request.h"
#include "greylist/rule_set.h"
#include "greylist/triplet_state.h"
#include "greylist/whitelist.h"

namespace greylist {

class DecisionTrace {
 public:
  virtual ~DecisionTrace() = default;
  // Step 0, reported only for a client that authenticated: its `user`, and
  // `match` the rule naming auth that matched (nullopt: none, so the
  // request passed as SMTP AUTH).
  virtual void smtp_auth(std::string_view user, const std::optional<RuleMatch>& match) = 0;
  // `loaded`: whether a static whitelist is set; `match`: its match.
  virtual void static_whitelist(bool loaded, const std::optional<WhitelistMatch>& match) = 0;
  // `threshold` 0: the client auto-whitelist is off (nothing was read).
  virtual void client_awl(std::uint32_t threshold, const std::optional<ClientRecord>& record) = 0;
  // `threshold` 0: off; `has_domain` false: the sender has no domain
  // (nothing was read in either case).
  virtual void domain_awl(std::uint32_t threshold, bool has_domain,
                          const std::optional<DomainRecord>& record) = 0;
  // The rules: `rules` the set consulted (nullptr: none loaded); `queries`
  // the DNS names it needed and `answers` those given (a name without an
  // answer counts as not listed); `match` the rule that decided or whose
  // options apply (nullopt: no rule matched).
  virtual void rule(const RuleSet* rules, const std::vector<DnsQuery>& queries,
                    const DnsAnswers& answers, const std::optional<RuleMatch>& match) = 0;
  // The greytrap of the client's `network` (the triplets' grouping, with its
  // prefix length: network_with_prefix()).
  enum class GreytrapStep {
    kHit,           // a greytrap rule matched: `record` is the trap written
    kLookedUp,      // `record`: the trap stored, its hold maybe over (nullopt: none)
    kNotLookedUp,   // the rules have no greytrap rule: nothing was read
  };
  virtual void greytrap(GreytrapStep step, std::string_view network,
                        const std::optional<TrapRecord>& record) = 0;
  // `client`: the key's client part (network or pool); the final change.
  virtual void triplet(std::string_view client, const StoredTriplet& stored,
                       const TripletChange& change) = 0;
};

}  // namespace greylist
