// Greylister: the greylisting decision, shared by every front end.
//
// Logic over a Store, a Clock, an optional Whitelist and optional rules
// (greylist/rule_set.h): no sockets, no threads of its own, no DNS (the
// caller resolves what plan() names). The triplet rule itself is change_triplet()
// (triplet_state.h); the keys are key_layout.h's. Thread-safe: decide() may
// run on many threads at once; each triplet's read-modify-write is atomic in
// the store.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/decision_observer.h"
#include "greylist/decision_trace.h"
#include "greylist/greylist_config.h"
#include "greylist/key_layout.h"
#include "greylist/record_codec.h"
#include "greylist/registered_domains.h"
#include "greylist/request.h"
#include "greylist/rule_set.h"
#include "greylist/store.h"
#include "greylist/whitelist.h"

namespace greylist {

// The rules a decision uses and what they need from DNS: plan()'s answer.
struct RulePlan {
  std::shared_ptr<const RuleSet> rules;  // null: no rules
  // assessment.queries: the DNS names to resolve before decide(); empty:
  // decide at once (assessment.match is then the rules' answer, unless
  // lookups_skipped).
  RuleAssessment assessment;
  // The rules wanted lookups, but a step that decides before them passes
  // the request (the static whitelist, the client auto-whitelist): none is
  // asked. Should that no longer hold when decide() runs (a reload of the
  // whitelist or of --auto-whitelist-clients), the rules are evaluated
  // without answers, every list "not listed" as after a failed lookup.
  bool lookups_skipped = false;

  // The client auto-whitelist entry as plan() read it (set only when it
  // read one: the rules wanted lookups, the static whitelist did not pass
  // the request, --auto-whitelist-clients was on and the store answered).
  // decide() takes step 2 from it instead of reading the entry again, so an
  // entry added, counted, refreshed or removed between plan() and decide()
  // is seen as it was at plan time: at worst the client is still passed
  // (its refresh then writes nothing, the entry being gone), or not yet
  // passed (the request goes on to the later steps, counted as usual).
  struct ClientAwlRead {
    std::string key;                     // Greylister::client_key() of the request
    std::optional<ClientRecord> record;  // nullopt: no entry, or not decodable
  };
  std::optional<ClientAwlRead> client_awl;

  // Step 0 passes the request (SMTP AUTH, decide()): decide() reads no
  // store and needs no DNS answer, so a front end need not check SPF for
  // it either.
  bool smtp_auth_passes = false;
};

class Greylister {
 public:
  // `store`, `clock` and `domains` must outlive the Greylister. Without
  // `domains` (nullptr), --pool-by-domain has no effect.
  Greylister(GreylistConfig config, Store& store, const Clock& clock,
             const RegisteredDomains* domains = nullptr);

  // Replaces the static whitelist (nullptr = none); safe while decide() runs
  // on other threads (SIGHUP reload).
  void set_whitelist(std::shared_ptr<const Whitelist> whitelist);

  // Replaces the rules (nullptr = none) atomically; safe while decide()
  // runs on other threads (SIGHUP reload): a decision uses the rules of its
  // plan from start to end.
  void set_rules(std::shared_ptr<const RuleSet> rules);
  std::shared_ptr<const RuleSet> rules() const;

  // The rules now in force and the DNS names a decision on `request` needs
  // (none without rules or dnsrbl clauses; for a client that authenticated,
  // only those of the rules that name auth). The static whitelists and the
  // client auto-whitelist decide before the rules, so a request they pass
  // needs none either (lookups_skipped): the static whitelists are matched,
  // and the client's auto-whitelist entry read (one store get, kept in
  // RulePlan::client_awl for decide()) only when the rules want lookups; a
  // store error there means the lookups are made and nothing is kept. The
  // sender-domain auto-whitelist is not read here. Thread-safe; never
  // throws.
  RulePlan plan(const Request& request) const;

  // Every decision is reported to `observer` (nullptr = none). Not
  // thread-safe: set it before decide() is called.
  void set_observer(DecisionObserver* observer) { observer_ = observer; }

  // Decides one recipient, in this order (greylist-milter.rules(5)):
  //  0. SMTP AUTH: a client that authenticated (Request::sasl_username) is
  //     decided by the rules that name auth only (RuleScope::kNamingAuth);
  //     when none of them matches → kWhitelisted (kSmtpAuth), with no store
  //     access; when one does, on to step 1, the rule deciding in step 4;
  //  1. the static whitelist → kWhitelisted;
  //  2. the client auto-whitelist, 3. the sender-domain auto-whitelist →
  //     kWhitelisted (step 2 from plan.client_awl when it holds this
  //     request's entry, else from one store get);
  //  4. the plan's rules, first match wins (RuleSet::evaluate with
  //     `answers`; a missing or failed answer is "not listed"): whitelist →
  //     kWhitelisted (kRuleWhitelist); blacklist → kReject (kRuleBlacklist);
  //     greytrap → the client network is recorded as trapped until now +
  //     hold and the request tempfailed (kGreylist, kGreytrap, seconds_left
  //     the hold), nothing else counted; greylist, continue, or no match → on,
  //     a rule's delay replacing --delay and --dynamic-delay and its
  //     autowhite --max-age for this triplet;
  //  5. only when the rules have a greytrap rule: a trapped network →
  //     kGreylist, kGreytrap (detail the network), seconds_left until the
  //     hold ends; no triplet written, no auto-whitelist counted;
  //  6. the triplet's state change (change_triplet(), triplet_state.h),
  //     with --dynamic-delay as the delay of a client without a name or
  //     with a dynamic-looking one.
  // Decision::rule names the rule of step 4 (see decision.h). Never throws;
  // a store failure gives Action::kError, Reason::kStoreError with the
  // store's message as detail (but a trap that could not be written still
  // tempfails, with a warning).
  Decision decide(const Request& request, const RulePlan& plan, const DnsAnswers& answers) const;
  // decide(request, plan(request), {}): for callers without DNS, and for
  // rules without dnsrbl clauses.
  Decision decide(const Request& request) const;

  // The same steps as decide(), at `now`, against `view` instead of the
  // Greylister's store, each step reported to `trace`; the observer is not
  // told. With a DryRunStore (dry_run_store.h) as view nothing is written:
  // greylistctl whitelist-check. The rules are plan(request)'s (its read of
  // the client auto-whitelist made through `view` too), `answers` the
  // answers to its queries. Never throws.
  Decision decide_traced(const Request& request, EpochSeconds now, Store& view,
                         DecisionTrace& trace, const DnsAnswers& answers = {}) const;

  // The request's keys in the store (key_layout.h), for tools and tests.
  const RecordKeys& keys() const { return keys_; }
  std::string triplet_key(const Request& request) const { return keys_.triplet_key(request); }
  std::string client_key(const Request& request) const { return keys_.client_key(request); }
  std::string domain_key(const Request& request) const { return keys_.domain_key(request); }
  std::string triplet_client(const Request& request) const {
    return keys_.triplet_client(request);
  }

  // Replaces the settings decisions use (SIGHUP): the delays, retry
  // window, max age and auto-whitelist thresholds of `config` decide from
  // the next decision on; a decision in progress keeps the settings it
  // began with. The settings keys depend on (keying_difference(),
  // key_layout.h) cannot change: InvalidArgument naming the option of the
  // first that differs, and nothing changes. Thread-safe.
  Status set_config(GreylistConfig config);
  // The settings in force (a copy: set_config() may replace them).
  GreylistConfig config() const;

 private:
  struct Run;  // one decision: request, time, store, trace
  Decision run(const Run& run) const;
  Decision run_or_throw(const Run& run) const;
  // plan(), its reads through `store`.
  RulePlan plan_with(const Request& request, Store& store) const;
  // plan(): the client auto-whitelist entry of `request` (nullopt: the
  // client auto-whitelist is off, or the store failed).
  std::optional<RulePlan::ClientAwlRead> read_client_awl(const Request& request,
                                                         std::uint32_t threshold,
                                                         Store& store) const;
  // The rules' answer for the request: the plan's, or evaluated with the
  // answers (in the request's scope).
  std::optional<RuleMatch> rules_answer(const Run& run) const;
  // Step 0: `match` is set to the rules' answer for an authenticated client.
  std::optional<Decision> smtp_auth_step(const Run& run, std::optional<RuleMatch>& match) const;
  std::optional<Decision> whitelist_step(const Run& run) const;
  std::optional<Decision> client_awl_step(const Run& run, std::string& warning) const;
  std::optional<Decision> domain_awl_step(const Run& run, std::string& warning) const;
  // Step 4: `match` is set to the rules' answer (kept from step 0 for an
  // authenticated client).
  std::optional<Decision> rule_step(const Run& run, std::optional<RuleMatch>& match) const;
  Decision greytrap_hit(const Run& run, const RuleMatch& match) const;
  // Step 5.
  std::optional<Decision> trapped_step(const Run& run) const;
  // Step 6, with the settings of the rule that matched (if any).
  Decision triplet_step(const Run& run, const std::optional<RuleMatch>& match) const;
  // First pass of a triplet: count it towards both auto-whitelists.
  void count_first_pass(const Run& run, Decision& decision) const;

  struct Settings;  // immutable; one decision uses one from start to end
  std::shared_ptr<const Settings> settings_;  // accessed with atomic_load/store
  RecordKeys keys_;
  Store& store_;
  const Clock& clock_;
  DecisionObserver* observer_ = nullptr;
  std::shared_ptr<const Whitelist> whitelist_;  // accessed with atomic_load/store
  std::shared_ptr<const RuleSet> rules_;        // accessed with atomic_load/store
};

}  // namespace greylist
