// PolicyResponder: answers one parsed policy request of one connection.
//
// Pure over a Greylister: no sockets and no logging of its own. respond()
// returns the exact reply bytes and the log lines to write, so the server
// decides where they go (rate limits) and tests can read them.
//
// Answers (every reply is one "action=..." line and an empty line):
//   malformed request (PolicyRequest::problem)      DUNNO, warning
//   request= not smtpd_access_policy               DUNNO, warning "unrecognized request
//                                                   type: '<x>'" (postgrey sends nothing
//                                                   and the client hangs)
//   protocol_state present and not RCPT             DUNNO, nothing decided or stored; the
//                                                   first on a connection warns, naming
//                                                   the state (not greylistctl check's probe)
//   client_address, client_name, sender or
//   recipient absent (sender may be empty)          DUNNO, warning "attribute missing: <name>"
//   greylisted                                      <greylist_action> <text>; a greylist or
//                                                   greytrap rule's code replaces the action,
//                                                   its ecode prefixes the text, its msg
//                                                   replaces the text (rule_reply.h)
//   rejected (a blacklist rule)                     550 5.7.1 Rejected by local policy (rule
//                                                   ID), or the rule's code, ecode and msg
//   first pass after a delay                        PREPEND <header>, or DUNNO when this
//                                                   connection already prepended for the
//                                                   same non-empty instance (one header
//                                                   per multi-recipient message)
//   passed, whitelisted                             DUNNO
//   store error / exception                         by on_error: DUNNO, or
//                                                   DEFER_IF_PERMIT 4.3.0 Greylisting
//                                                   service temporarily unavailable
// policy_test_time is ignored: time comes from the Clock only.
//
// Rules with DNS lists, --pool-by-spf: begin() answers at once, or returns
// the lookups the decision needs (the SPF identity to check, and the DNS
// lists of Greylister::plan()); the server checks and resolves them without
// blocking and calls finish() with the answers. respond() is
// begin() then, if needed, finish() with no answers (every list "not
// listed", no SPF pass: keyed by network), for callers without a resolver.
//
// Per connection (it remembers the last prepended instance); not
// thread-safe. The Greylister and Clock must outlive it; respond() never
// throws.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "greylist/clock.h"
#include "greylist/greylister.h"
#include "policy/policy_request_parser.h"
#include "policy/policy_server.h"
#include "util/log.h"

namespace greylist {

inline constexpr std::string_view kTempfailReply =
    "DEFER_IF_PERMIT 4.3.0 Greylisting service temporarily unavailable";

struct PolicyLogRecord {
  // Where a line belongs, so the server can rate-limit floods: a bad peer
  // (kPeer) or a failing store (kStore) must not fill the disk.
  enum class Kind { kDecision, kPeer, kStore };
  Kind kind = Kind::kDecision;
  Severity severity = Severity::kInfo;
  std::string message;  // printable, one line
};

struct PolicyAnswer {
  std::string reply;  // "action=...\n\n"; never holds another CR or LF
  std::vector<PolicyLogRecord> log;
};

// A request waiting for DNS list answers: all finish() needs, owned (it
// outlives the request's buffer).
struct PolicyLookup {
  Request core;
  RulePlan plan;
  std::vector<std::string> names;  // to resolve: plan.assessment.queries' names
  // --pool-by-spf: the identity to check first; its verdict goes into
  // core (apply_spf_verdict) before finish().
  std::optional<SpfIdentity> spf;
  bool etrn = false;               // etrn_domain was present
  std::string instance;
};

struct PolicyStep {
  PolicyAnswer answer;                 // the answer, when lookup is unset
  std::optional<PolicyLookup> lookup;  // set: check lookup->spf, resolve lookup->names,
                                       // then finish()
};

class PolicyResponder {
 public:
  // Keeps references to all three; they must outlive the responder.
  PolicyResponder(const PolicySettings& settings, const Greylister& greylister,
                  const Clock& clock);

  PolicyStep begin(const PolicyRequest& request) noexcept;
  // The answer to a request begin() left waiting, with the answers to its
  // names (missing or failed ones: "not listed"); counts them (DnsLists).
  PolicyAnswer finish(const PolicyLookup& lookup, const DnsAnswers& answers) noexcept;
  PolicyAnswer respond(const PolicyRequest& request) noexcept;
  // The reply --on-error gives (a request answered when the store failed).
  std::string on_error_reply() const;

  // Answers with `settings` instead of the constructor's from now on,
  // keeping them alive (a reload: PolicyServer::set_replies()).
  void use_settings(std::shared_ptr<const PolicySettings> settings);

 private:
  // What the reply depends on beyond the decision.
  struct ReplyContext {
    bool etrn = false;
    std::string_view instance;
  };
  PolicyStep begin_or_throw(const PolicyRequest& request);
  PolicyAnswer decided(const Request& core, const Decision& decision, const ReplyContext& context);
  PolicyAnswer failed(const char* what) const;
  static std::optional<std::string> not_decided(const PolicyRequest& request);
  std::string state_warning(const PolicyRequest& request);
  // The reply's action for a decided request (remembers a PREPEND's instance).
  std::string action_for(const ReplyContext& context, const Request& core,
                         const Decision& decision);
  std::string greylist_action(const ReplyContext& context, const Request& core,
                              const Decision& decision) const;
  std::string on_error_action() const;

  const PolicySettings* settings_;
  std::shared_ptr<const PolicySettings> held_settings_;  // use_settings()'s
  const Greylister& greylister_;
  const Clock& clock_;
  std::string last_prepended_instance_;
  bool warned_state_ = false;  // a non-RCPT state was warned about
};

}  // namespace greylist
