// Decision: what the core answers for one Request, with a typed reason.
//
// Front ends and metrics switch on Decision::Reason; reason_text() gives
// postgrey's wording for the log line and nothing ever parses it back.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "greylist/rule_set.h"
#include "greylist/whitelist.h"

namespace greylist {

struct Decision {
  enum class Action {
    kPass,         // triplet known and past its delay
    kGreylist,     // temporarily reject (new triplet, early retry, expired retry window)
    kWhitelisted,  // a static whitelist, an auto-whitelist or a front-end exemption
    kError,        // the store failed; the front end applies --on-error
    kReject,       // a `blacklist` rule: the only permanent rejection
  };

  // Why; the text of each is reason_text()'s (detail in parentheses when set).
  enum class Reason {
    kNew,                 // "new": first seen, or seen again after the retry window
    kEarlyRetry,          // "early-retry (<seconds_left>s missing)"
    kTripletFound,        // "triplet found": passed, or a first pass
    kPool,                // "pool (<domain>)": first pass from another network of the pool
    kClientWhitelist,     // "client whitelist (<file:line rule>)"
    kRecipientWhitelist,  // "recipient whitelist (<file:line rule>)"
    kClientAwl,           // "client AWL"
    kDomainAwl,           // "domain AWL"
    kSmtpAuth,            // "SMTP AUTH": the client authenticated, no rule naming auth matched
    kSkipNetwork,         // "skip networks (<network>)" (milter --skip-networks)
    kNoClientAddress,     // "no client address" (milter: local submission)
    kStoreError,          // "<error message>", or "store error" without one
    kRuleWhitelist,       // "rule whitelist": a `whitelist` rule (Decision::rule)
    kRuleBlacklist,       // "rule blacklist": a `blacklist` rule (Decision::rule)
    kGreytrap,            // "greytrap": the hit that traps the network (Decision::rule);
                          // "greytrap (NETWORK/LEN)": later mail from it
  };

  Action action = Action::kError;
  Reason reason = Reason::kStoreError;
  // The reason's detail: the whitelist rule ("whitelist_clients:3
  // .example.com", may be empty), the pool's registered domain, the skip
  // network, the error message, or the trapped network of later mail from
  // it (network_with_prefix()). Empty for the other reasons: a decision by
  // a rule names it in `rule` only, so that the log line names it once.
  std::string detail;
  // The rule that decided (kRuleWhitelist, kRuleBlacklist, a greytrap hit),
  // or, for a decision by the triplet (kGreylist, kPass), the greylist or
  // continue rule whose options applied to it. Unset when no rule matched,
  // and for later mail from a trapped network. Front ends take reply
  // overrides from rule->options (code, ecode, msg).
  std::optional<RuleMatch> rule;
  // kGreylist: seconds until a retry would pass (>= 1).
  std::int64_t seconds_left = 0;
  // kPass: set only on the first pass after the triplet was delayed, with the
  // delay it suffered (seconds). Front ends add the X-Greylist header then.
  std::optional<std::int64_t> delayed_seconds;
  // Set when this decision made the client reach the auto-whitelist threshold.
  bool client_newly_whitelisted = false;
  // A problem that did not change the answer (e.g. the auto-whitelist
  // counter could not be written); front ends log it as a warning.
  std::string warning;
};

// A decision with only its action, reason and detail set.
Decision make_decision(Decision::Action action, Decision::Reason reason, std::string detail = {});

// The decision of a static whitelist match: kWhitelisted, the list's
// reason, the rule as detail.
Decision whitelist_decision(const WhitelistMatch& match);

// postgrey's reason text: "new", "early-retry (12s missing)", "triplet
// found", "pool (example.com)", "client whitelist (whitelist_clients:3
// .example.com)", "client AWL", ..., or the store's error message; for the
// rules: "rule whitelist", "rule blacklist", "greytrap" (the rule is
// Decision::rule), "greytrap (192.0.2.0/24)" for a trapped network.
std::string reason_text(const Decision& decision);

// "pass", "greylist", "pass" (whitelisted), "error", or "reject" (a
// blacklist rule; postgrey has none): postgrey's action word.
const char* action_log_word(Decision::Action action);

}  // namespace greylist
