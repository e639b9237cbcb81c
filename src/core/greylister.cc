#include "greylist/greylister.h"

#include <algorithm>
#include <chrono>
#include <exception>

#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "greylist/triplet_state.h"

namespace greylist {
namespace {

using Action = Decision::Action;
using Reason = Decision::Reason;

Decision error_decision(const Status& status) {
  return make_decision(Action::kError, Reason::kStoreError, status.message());
}

// One kind of auto-whitelist entry (client, or sender domain), so both
// share the look-up and the hourly refresh.
template <typename Record>
struct AwlKind {
  const char* name;
  std::optional<Record> (*decode)(std::string_view);
  std::string (*encode)(const Record&);
  EpochSeconds (*expires_at)(const Record&, const GreylistConfig&);
  std::uint32_t (*progress)(const Record&);
};

const AwlKind<ClientRecord> kClientAwl{
    "client AWL", decode_client, encode_client, client_expires_at,
    [](const ClientRecord& r) { return r.deliveries; }};
const AwlKind<DomainRecord> kDomainAwl{
    "domain AWL", decode_domain, encode_domain, domain_expires_at,
    [](const DomainRecord& r) { return static_cast<std::uint32_t>(r.sender_hashes.size()); }};

template <typename Record>
Result<std::optional<Record>> awl_lookup(Store& store, const AwlKind<Record>& kind,
                                         const std::string& key) {
  auto found = store.get(Table::kClients, key);
  if (!found.ok()) return found.status();
  return found.value() ? kind.decode(*found.value()) : std::nullopt;
}

// Whether an auto-whitelist entry passes a request at `threshold` (> 0).
template <typename Record>
bool awl_passes(const AwlKind<Record>& kind, const std::optional<Record>& record,
                std::uint32_t threshold) {
  return record && kind.progress(*record) >= threshold;
}

// Step 2's entry: the one plan() read for `key`, else read now.
Result<std::optional<ClientRecord>> planned_client_awl(const RulePlan& plan, Store& store,
                                                       const std::string& key) {
  if (plan.client_awl && plan.client_awl->key == key) return plan.client_awl->record;
  return awl_lookup(store, kClientAwl, key);
}

// A whitelisted entry's last-seen time is refreshed at most once an hour,
// so it does not expire while in use yet repeat traffic stays read-only.
template <typename Record>
void awl_refresh(Store& store, const GreylistConfig& config, const AwlKind<Record>& kind,
                 const std::string& key, const Record& record, EpochSeconds now,
                 std::string& warning) {
  if (now < record.last_seen + kLastSeenRefreshSeconds && record.last_seen <= now) return;
  const Status refreshed = store.update(
      Table::kClients, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
        auto current = value ? kind.decode(*value) : std::nullopt;
        if (!current) return {};
        current->last_seen = now;
        value = kind.encode(*current);
        return {UpdateOutcome::Verdict::kWrite, kind.expires_at(*current, config)};
      });
  if (!refreshed.ok()) warning = std::string(kind.name) + " refresh failed: " + refreshed.message();
}

GreylistConfig with_dynamic_delay(GreylistConfig config) {
  config.delay = std::max(config.delay, config.dynamic_delay);
  return config;
}

// The settings of one triplet: `base`, or a copy with the delay and
// autowhite of the rule that matched (its delay replaces --dynamic-delay
// too, so `config` is the daemon's, not the dynamic one).
const GreylistConfig& triplet_settings(const GreylistConfig& base, const GreylistConfig& config,
                                       const std::optional<RuleMatch>& match,
                                       std::optional<GreylistConfig>& storage) {
  if (!match || (!match->options.delay && !match->options.autowhite)) return base;
  storage = match->options.delay ? config : base;
  if (match->options.delay) storage->delay = match->options.delay->count();
  if (match->options.autowhite) storage->max_age = match->options.autowhite->count();
  return *storage;
}

bool authenticated(const Request& request) { return !request.sasl_username.empty(); }

// Step 0: only the rules that name auth apply to a client that authenticated.
RuleScope rule_scope(const Request& request) {
  return authenticated(request) ? RuleScope::kNamingAuth : RuleScope::kAll;
}

Decision rule_decision(Action action, Reason reason, const RuleMatch& match) {
  // No detail: Decision::rule names the rule (the log line's rule= field).
  Decision decision = make_decision(action, reason);
  decision.rule = match;
  return decision;
}

}  // namespace

struct Greylister::Settings {
  explicit Settings(GreylistConfig c)
      : config(std::move(c)), dynamic_config(with_dynamic_delay(config)) {}
  GreylistConfig config;
  // config with the delay of clients without a name or with a
  // dynamic-looking one (--dynamic-delay).
  GreylistConfig dynamic_config;
};

struct Greylister::Run {
  const Request& request;
  EpochSeconds now;
  Store& store;
  DecisionTrace* trace;
  const RulePlan& plan;
  const DnsAnswers& answers;
  const Settings& settings;
};

Greylister::Greylister(GreylistConfig config, Store& store, const Clock& clock,
                       const RegisteredDomains* domains)
    : settings_(std::make_shared<const Settings>(std::move(config))),
      keys_(settings_->config, domains),
      store_(store),
      clock_(clock) {}

Status Greylister::set_config(GreylistConfig config) {
  if (const auto differs = keying_difference(config, keys_.config())) {
    return Status::InvalidArgument("--" + std::string(*differs) +
                                   " decides the keys of stored entries: it needs a restart");
  }
  std::atomic_store(&settings_, std::make_shared<const Settings>(std::move(config)));
  return Status::Ok();
}

GreylistConfig Greylister::config() const { return std::atomic_load(&settings_)->config; }

void Greylister::set_whitelist(std::shared_ptr<const Whitelist> whitelist) {
  std::atomic_store(&whitelist_, std::move(whitelist));
}

void Greylister::set_rules(std::shared_ptr<const RuleSet> rules) {
  std::atomic_store(&rules_, std::move(rules));
}

std::shared_ptr<const RuleSet> Greylister::rules() const { return std::atomic_load(&rules_); }

RulePlan Greylister::plan(const Request& request) const { return plan_with(request, store_); }

RulePlan Greylister::plan_with(const Request& request, Store& store) const {
  RulePlan plan;
  plan.rules = rules();
  if (plan.rules) plan.assessment = plan.rules->assess(request, rule_scope(request));
  if (plan.assessment.queries.empty()) {
    plan.smtp_auth_passes = authenticated(request) && !plan.assessment.match;
    return plan;
  }
  // The static whitelist and the client AWL decide before the rules: no
  // lookup for the clients they pass (their addresses are not sent out).
  const auto whitelist = std::atomic_load(&whitelist_);
  bool passed = whitelist && whitelist->match(request);
  if (!passed) {
    const std::uint32_t threshold = std::atomic_load(&settings_)->config.auto_whitelist_clients;
    plan.client_awl = read_client_awl(request, threshold, store);
    passed = plan.client_awl && awl_passes(kClientAwl, plan.client_awl->record, threshold);
  }
  if (passed) {
    plan.assessment = RuleAssessment{};
    plan.lookups_skipped = true;
  }
  return plan;
}

std::optional<RulePlan::ClientAwlRead> Greylister::read_client_awl(const Request& request,
                                                                   std::uint32_t threshold,
                                                                   Store& store) const {
  if (threshold == 0) return std::nullopt;
  RulePlan::ClientAwlRead read{keys_.client_key(request), std::nullopt};
  auto found = awl_lookup(store, kClientAwl, read.key);
  if (!found.ok()) return std::nullopt;
  read.record = std::move(found.value());
  return read;
}

Decision Greylister::decide(const Request& request) const {
  return decide(request, plan(request), DnsAnswers{});
}

Decision Greylister::decide(const Request& request, const RulePlan& plan,
                            const DnsAnswers& answers) const {
  const auto started = std::chrono::steady_clock::now();
  const auto settings = std::atomic_load(&settings_);
  const Decision decision =
      run(Run{request, clock_.now(), store_, nullptr, plan, answers, *settings});
  if (observer_ != nullptr) {
    observer_->on_decision(request, decision, std::chrono::steady_clock::now() - started);
  }
  return decision;
}

Decision Greylister::decide_traced(const Request& request, EpochSeconds now, Store& view,
                                   DecisionTrace& trace, const DnsAnswers& answers) const {
  const RulePlan rules = plan_with(request, view);
  const auto settings = std::atomic_load(&settings_);
  return run(Run{request, now, view, &trace, rules, answers, *settings});
}

Decision Greylister::run(const Run& run) const {
  try {
    return run_or_throw(run);
  } catch (const std::exception& e) {
    return error_decision(Status::IoError(std::string("internal error: ") + e.what()));
  } catch (...) {
    return error_decision(Status::IoError("internal error"));
  }
}

Decision Greylister::run_or_throw(const Run& run) const {
  std::optional<RuleMatch> match;
  if (auto decided = smtp_auth_step(run, match)) return *decided;
  if (auto decided = whitelist_step(run)) return *decided;
  std::string warning;
  auto decided = client_awl_step(run, warning);
  if (!decided) decided = domain_awl_step(run, warning);
  if (!decided) decided = rule_step(run, match);
  if (!decided) decided = trapped_step(run);
  Decision decision = decided ? std::move(*decided) : triplet_step(run, match);
  // A greylist or continue rule whose options applied to the triplet.
  if (!decided && decision.action != Action::kError) decision.rule = std::move(match);
  if (decision.warning.empty()) decision.warning = std::move(warning);
  return decision;
}

std::optional<RuleMatch> Greylister::rules_answer(const Run& run) const {
  const RuleSet* rules = run.plan.rules.get();
  if (rules == nullptr) return std::nullopt;
  const bool assessed = run.plan.assessment.queries.empty() && !run.plan.lookups_skipped;
  if (assessed) return run.plan.assessment.match;
  return rules->evaluate(run.request, run.answers, rule_scope(run.request));
}

std::optional<Decision> Greylister::smtp_auth_step(const Run& run,
                                                   std::optional<RuleMatch>& match) const {
  if (!authenticated(run.request)) return std::nullopt;
  match = rules_answer(run);
  if (run.trace != nullptr) run.trace->smtp_auth(run.request.sasl_username, match);
  if (match) return std::nullopt;
  return make_decision(Action::kWhitelisted, Reason::kSmtpAuth);
}

std::optional<Decision> Greylister::whitelist_step(const Run& run) const {
  const auto whitelist = std::atomic_load(&whitelist_);
  const auto match = whitelist ? whitelist->match(run.request) : std::nullopt;
  if (run.trace != nullptr) run.trace->static_whitelist(whitelist != nullptr, match);
  if (!match) return std::nullopt;
  return whitelist_decision(*match);
}

std::optional<Decision> Greylister::client_awl_step(const Run& run, std::string& warning) const {
  const std::uint32_t threshold = run.settings.config.auto_whitelist_clients;
  if (threshold == 0) {
    if (run.trace != nullptr) run.trace->client_awl(0, std::nullopt);
    return std::nullopt;
  }
  const std::string key = keys_.client_key(run.request);
  auto found = planned_client_awl(run.plan, run.store, key);
  if (!found.ok()) return error_decision(found.status());
  const auto& record = found.value();
  if (run.trace != nullptr) run.trace->client_awl(threshold, record);
  if (!awl_passes(kClientAwl, record, threshold)) return std::nullopt;
  awl_refresh(run.store, run.settings.config, kClientAwl, key, *record, run.now, warning);
  return make_decision(Action::kWhitelisted, Reason::kClientAwl);
}

std::optional<Decision> Greylister::domain_awl_step(const Run& run, std::string& warning) const {
  const std::uint32_t threshold = run.settings.config.auto_whitelist_domains;
  const std::string key = threshold > 0 ? keys_.domain_key(run.request) : std::string();
  if (key.empty()) {
    if (run.trace != nullptr) run.trace->domain_awl(threshold, threshold == 0, std::nullopt);
    return std::nullopt;
  }
  auto found = awl_lookup(run.store, kDomainAwl, key);
  if (!found.ok()) return error_decision(found.status());
  const auto& record = found.value();
  if (run.trace != nullptr) run.trace->domain_awl(threshold, true, record);
  if (!awl_passes(kDomainAwl, record, threshold)) return std::nullopt;
  awl_refresh(run.store, run.settings.config, kDomainAwl, key, *record, run.now, warning);
  return make_decision(Action::kWhitelisted, Reason::kDomainAwl);
}

std::optional<Decision> Greylister::rule_step(const Run& run,
                                              std::optional<RuleMatch>& match) const {
  const RuleSet* rules = run.plan.rules.get();
  if (!authenticated(run.request)) match = rules_answer(run);  // else step 0's
  if (run.trace != nullptr) run.trace->rule(rules, run.plan.assessment.queries, run.answers, match);
  if (!match) return std::nullopt;
  switch (match->action) {
    case RuleAction::kWhitelist:
      return rule_decision(Action::kWhitelisted, Reason::kRuleWhitelist, *match);
    case RuleAction::kBlacklist:
      return rule_decision(Action::kReject, Reason::kRuleBlacklist, *match);
    case RuleAction::kGreytrap:
      return greytrap_hit(run, *match);
    case RuleAction::kGreylist:
    case RuleAction::kContinue:
      break;
  }
  return std::nullopt;
}

Decision Greylister::greytrap_hit(const Run& run, const RuleMatch& match) const {
  const std::int64_t hold = match.options.hold.value_or(RuleSet::kDefaultHold).count();
  const EpochSeconds until = run.now + hold;
  TrapRecord written;
  // A network trapped again keeps its first hit; its hold ends at the later
  // of the two ends.
  const Status status = run.store.update(
      Table::kClients, keys_.greytrap_key(run.request),
      [&](std::optional<std::string>& value) -> UpdateOutcome {
        const auto current = value ? decode_trap(*value) : std::nullopt;
        written = current && current->hold_until > run.now ? *current : TrapRecord{run.now, 0};
        written.hold_until = std::max(written.hold_until, until);
        value = encode_trap(written);
        return {UpdateOutcome::Verdict::kWrite, trap_expires_at(written)};
      });
  if (run.trace != nullptr) {
    run.trace->greytrap(DecisionTrace::GreytrapStep::kHit,
                        client_network_text(run.request.client_address, keys_.config()), written);
  }
  Decision decision = rule_decision(Action::kGreylist, Reason::kGreytrap, match);
  decision.seconds_left = std::max<std::int64_t>(hold, 1);
  if (!status.ok()) decision.warning = "greytrap record failed: " + status.message();
  return decision;
}

std::optional<Decision> Greylister::trapped_step(const Run& run) const {
  using Step = DecisionTrace::GreytrapStep;
  const bool traps = run.plan.rules && run.plan.rules->has_greytraps();
  if (!traps) {
    if (run.trace != nullptr) {
      run.trace->greytrap(Step::kNotLookedUp,
                          client_network_text(run.request.client_address, keys_.config()),
                          std::nullopt);
    }
    return std::nullopt;
  }
  const std::string network = client_network_text(run.request.client_address, keys_.config());
  auto found = run.store.get(Table::kClients, keys_.greytrap_key(run.request));
  if (!found.ok()) return error_decision(found.status());
  const auto record = found.value() ? decode_trap(*found.value()) : std::nullopt;
  if (run.trace != nullptr) run.trace->greytrap(Step::kLookedUp, network, record);
  if (!record || record->hold_until <= run.now) return std::nullopt;
  Decision decision = make_decision(Action::kGreylist, Reason::kGreytrap, network);
  decision.seconds_left = record->hold_until - run.now;
  return decision;
}

Decision Greylister::triplet_step(const Run& run, const std::optional<RuleMatch>& match) const {
  const std::string client = keys_.triplet_client(run.request);
  const std::string network_text = client_network(run.request.client_address, keys_.config());
  const std::string key = keys_.triplet_key_for(client, run.request);
  StoredTriplet stored;
  stored.pooled = client != network_text;
  stored.network = record_hash(network_text, keys_.config());
  std::optional<GreylistConfig> ruled;
  const bool server = keys_.client_kind(run.request) == ClientKind::kServer;
  const GreylistConfig& settings =
      triplet_settings(server ? run.settings.config : run.settings.dynamic_config,
                       run.settings.config, match, ruled);
  TripletChange change;
  // Called again by the store after a lock conflict: depends only on `value`
  // and on `stored`'s look-up fields, set between the two updates.
  const auto update = [&](std::optional<std::string>& value) -> UpdateOutcome {
    stored.present = value.has_value();
    stored.record = value ? decode_triplet(*value) : std::nullopt;
    change = change_triplet(stored, run.now, settings);
    if (!change.write) return {};
    value = encode_triplet(*change.write);
    return {UpdateOutcome::Verdict::kWrite, triplet_expires_at(*change.write, settings)};
  };
  Status updated = run.store.update(Table::kTriplets, key, update);
  if (updated.ok() && change.outcome == TripletChange::Outcome::kLookUpNetworkEntry) {
    // Only this miss path pays the extra look-up.
    auto found = run.store.get(Table::kTriplets, keys_.triplet_key_for(network_text, run.request));
    if (!found.ok()) return error_decision(found.status());
    if (found.value()) stored.network_entry = decode_triplet(*found.value());
    stored.network_entry_looked_up = true;
    updated = run.store.update(Table::kTriplets, key, update);
  }
  if (!updated.ok()) return error_decision(updated);
  if (run.trace != nullptr) run.trace->triplet(client, stored, change);

  Decision decision;
  switch (change.outcome) {
    case TripletChange::Outcome::kLookUpNetworkEntry:  // not after the look-up
    case TripletChange::Outcome::kNew:
    case TripletChange::Outcome::kEarlyRetry:
      decision = make_decision(Action::kGreylist, change.outcome == TripletChange::Outcome::kEarlyRetry
                                                      ? Reason::kEarlyRetry
                                                      : Reason::kNew);
      decision.seconds_left = change.seconds_left;
      return decision;
    case TripletChange::Outcome::kPassed:
      return make_decision(Action::kPass, Reason::kTripletFound);
    case TripletChange::Outcome::kFirstPass:
      break;
  }
  // A retry that passed from another network of the same provider's pool.
  decision = change.via_other_network
                 ? make_decision(Action::kPass, Reason::kPool,
                                 std::string(pool_domain(client).value_or(client)))
                 : make_decision(Action::kPass, Reason::kTripletFound);
  decision.delayed_seconds = run.now - change.first_seen;
  count_first_pass(run, decision);
  return decision;
}

void Greylister::count_first_pass(const Run& run, Decision& decision) const {
  const EpochSeconds now = run.now;
  const std::uint32_t client_threshold = run.settings.config.auto_whitelist_clients;
  if (client_threshold > 0) {
    // postgrey counts a client's first successful retry of each triplet, at
    // most once an hour, towards auto-whitelisting.
    bool reached = false;
    const Status counted = run.store.update(
        Table::kClients, keys_.client_key(run.request),
        [&](std::optional<std::string>& value) -> UpdateOutcome {
          reached = false;
          auto record = value ? decode_client(*value) : std::nullopt;
          if (record && now < record->last_seen + kLastSeenRefreshSeconds &&
              record->last_seen <= now) {
            return {};
          }
          if (!record) record = ClientRecord{};
          record->deliveries += 1;
          record->last_seen = now;
          reached = record->deliveries == client_threshold;
          value = encode_client(*record);
          return {UpdateOutcome::Verdict::kWrite, client_expires_at(*record, run.settings.config)};
        });
    if (!counted.ok()) {
      decision.warning = "client AWL count failed: " + counted.message();
    } else {
      decision.client_newly_whitelisted = reached;
    }
  }

  const std::uint32_t domain_threshold = run.settings.config.auto_whitelist_domains;
  const std::string key = domain_threshold > 0 ? keys_.domain_key(run.request) : std::string();
  if (key.empty()) return;
  const std::uint64_t sender = record_hash(normalize_sender(run.request.sender), keys_.config());
  const Status counted = run.store.update(
      Table::kClients, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
        auto record = value ? decode_domain(*value) : std::nullopt;
        if (!record) record = DomainRecord{};
        auto& senders = record->sender_hashes;
        if (std::find(senders.begin(), senders.end(), sender) == senders.end() &&
            senders.size() < DomainRecord::kMaxSenders) {
          senders.push_back(sender);
        }
        record->last_seen = now;
        value = encode_domain(*record);
        return {UpdateOutcome::Verdict::kWrite, domain_expires_at(*record, run.settings.config)};
      });
  if (!counted.ok()) decision.warning = "domain AWL count failed: " + counted.message();
}

}  // namespace greylist
