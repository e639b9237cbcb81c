// Greylister with rules (issue 14 phase 2): the rule step, greytraps and
// the order of evaluation, over a MemoryStore and a FakeClock.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "greylist/dry_run_store.h"
#include "greylist/expiry_sweeper.h"
#include "greylist/greylister.h"
#include "greylist/log_line.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"
#include "support/forwarding_store.h"
#include "support/sample_request.h"

using namespace greylist;
using greylist::testing::FailingStore;
using greylist::testing::FakeClock;
using greylist::testing::plain_config;
using greylist::testing::sample_request;
using Action = Decision::Action;
using Reason = Decision::Reason;

namespace {

std::shared_ptr<const RuleSet> rules(std::string_view text) {
  auto set = RuleSet::parse(text, "rules");
  REQUIRE_MESSAGE(set.ok(), set.status().message());
  return set.value();
}

struct Fixture {
  MemoryStore store;
  FakeClock clock;
  GreylistConfig config = plain_config();  // tests turn on what they need
  Greylister make(std::string_view text) {
    Greylister g(config, store, clock);
    g.set_rules(rules(text));
    return g;
  }
  // Passes `r` through the greylisting (first attempt, retry after the delay).
  Decision pass(const Greylister& g, const Request& r, EpochSeconds delay) {
    g.decide(r);
    clock.advance(delay);
    return g.decide(r);
  }
  // A Greylister over `over` (which reaches `store`) with a client AWL of
  // one delivery by network, sample_request()'s network already on it; then
  // `rule_text` as its rules (none if empty).
  Greylister on_client_awl(Store& over, std::string_view rule_text) {
    config.auto_whitelist_clients = 1;
    config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
    Greylister g(config, over, clock);
    CHECK(pass(g, sample_request(), 300).action == Action::kPass);
    if (!rule_text.empty()) g.set_rules(rules(rule_text));
    return g;
  }
};

// One DNS list, whose listing blacklists.
constexpr const char* kListRules =
    "dnsrbl \"bl\" bl.example 127.0.0.2\n"
    "racl \"bl\" blacklist dnsrbl \"bl\"\n";

class ListWhitelist final : public Whitelist {
 public:
  std::optional<WhitelistMatch> match(const Request& r) const override {
    if (r.recipient != "postmaster@bar.test") return std::nullopt;
    return WhitelistMatch{WhitelistMatch::List::kRecipients, "whitelist_recipients:1 postmaster@"};
  }
};

// Counts the get() calls of each (table, key).
class GetCountingStore final : public greylist::testing::ForwardingStore {
 public:
  explicit GetCountingStore(Store& inner) : ForwardingStore(inner) {}
  Result<std::optional<std::string>> get(Table t, std::string_view k) override {
    std::lock_guard lock(mutex_);
    ++gets_[{t, std::string(k)}];
    return ForwardingStore::get(t, k);
  }
  void reset() {
    std::lock_guard lock(mutex_);
    gets_.clear();
  }
  int gets(Table t, const std::string& k) const {
    std::lock_guard lock(mutex_);
    const auto it = gets_.find({t, k});
    return it == gets_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<Table, std::string>, int> gets_;
};

// Keeps what decide_traced() reported of the client auto-whitelist.
class ClientAwlTrace final : public DecisionTrace {
 public:
  std::optional<ClientRecord> record;
  void smtp_auth(std::string_view, const std::optional<RuleMatch>&) override {}
  void static_whitelist(bool, const std::optional<WhitelistMatch>&) override {}
  void client_awl(std::uint32_t, const std::optional<ClientRecord>& r) override { record = r; }
  void domain_awl(std::uint32_t, bool, const std::optional<DomainRecord>&) override {}
  void rule(const RuleSet*, const std::vector<DnsQuery>&, const DnsAnswers&,
            const std::optional<RuleMatch>&) override {}
  void greytrap(GreytrapStep, std::string_view, const std::optional<TrapRecord>&) override {}
  void triplet(std::string_view, const StoredTriplet&, const TripletChange&) override {}
};

constexpr const char* kTrapRules =
    "racl \"trap\" greytrap rcpt trap@bar.test hold 2h\n"
    "racl \"ok\" whitelist addr 198.51.100.0/24\n";

}  // namespace

TEST_SUITE("greylister_rules") {

TEST_CASE_FIXTURE(Fixture, "whitelist rule: passes at once, names the rule, writes nothing") {
  const Greylister g = make("racl \"friends\" whitelist addr 203.0.113.0/24\n");
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kWhitelisted);
  CHECK(d.reason == Reason::kRuleWhitelist);
  CHECK(reason_text(d) == "rule whitelist");
  REQUIRE(d.rule);
  CHECK(d.rule->action == RuleAction::kWhitelist);
  CHECK(store.count(Table::kTriplets).value() == 0);
  CHECK(store.count(Table::kClients).value() == 0);
  CHECK(decision_log_line(sample_request(), d).find(", rule=rules:1 (friends),") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "blacklist rule: the only kReject; log line says reject and the rule") {
  const Greylister g = make("racl greylist rcpt x@bar.test\nracl blacklist from @foo.test\n");
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kReject);
  CHECK(reason_text(d) == "rule blacklist");
  CHECK(decision_log_line(sample_request(), d).starts_with(
      "action=reject, reason=rule blacklist, rule=rules:2, client_name="));
  CHECK(store.count(Table::kTriplets).value() == 0);
  // Repeated, still rejected: nothing was counted.
  clock.advance(10000);
  CHECK(g.decide(sample_request()).action == Action::kReject);
  // Another sender: no rule, the default greylisting without a rule named.
  const Decision other = g.decide(sample_request("203.0.113.7", "a@other.test"));
  CHECK(other.reason == Reason::kNew);
  CHECK_FALSE(other.rule);
}

TEST_CASE_FIXTURE(Fixture, "greylist rule: its delay replaces --delay and --dynamic-delay") {
  config.delay = 300;
  config.dynamic_delay = 2400;
  const Greylister g = make("racl \"slow\" greylist rcpt @bar.test delay 15m\n"
                            "racl \"fast\" greylist rcpt @fast.test delay 30s\n");
  const Decision first = g.decide(sample_request());
  CHECK(first.action == Action::kGreylist);
  CHECK(first.seconds_left == 900);
  REQUIRE(first.rule);
  CHECK(first.rule->rule.id == "slow");
  CHECK(decision_log_line(sample_request(), first).find("rule=rules:1 (slow)") != std::string::npos);
  clock.advance(600);
  CHECK(reason_text(g.decide(sample_request())) == "early-retry (300s missing)");
  clock.advance(300);
  const Decision passed = g.decide(sample_request());
  CHECK(passed.action == Action::kPass);
  CHECK(passed.delayed_seconds == 900);
  CHECK(passed.rule);

  // A client without a name would wait --dynamic-delay; the rule's 30 s wins.
  Request unnamed = sample_request("192.0.2.9", "a@foo.test", "b@fast.test");
  unnamed.client_name = "unknown";
  CHECK(g.decide(unnamed).seconds_left == 30);
  clock.advance(30);
  CHECK(g.decide(unnamed).action == Action::kPass);
  // Without a rule, the unnamed client waits --dynamic-delay.
  unnamed.recipient = "b@other.test";
  CHECK(g.decide(unnamed).seconds_left == 2400);
}

TEST_CASE_FIXTURE(Fixture, "greylist rule: autowhite is how long the passed triplet stays passed") {
  const Greylister g = make("racl greylist rcpt @bar.test autowhite 1d\n");
  CHECK(pass(g, sample_request(), 300).action == Action::kPass);
  clock.advance(86400 - 1);
  CHECK(reason_text(g.decide(sample_request())) == "triplet found");  // refreshes last seen
  clock.advance(86400);
  CHECK(reason_text(g.decide(sample_request())) == "new");  // not swept yet: forgotten all the same
  // The entry's expiry (Redis's TTL) is the autowhite's.
  const Request other = sample_request("203.0.113.7", "c@foo.test");
  CHECK(pass(g, other, 300).action == Action::kPass);
  const auto key = g.triplet_key(other);
  const auto value = store.get(Table::kTriplets, key).value();
  REQUIRE(value);
  const auto record = decode_triplet(*value);
  REQUIRE(record);
  CHECK(record->last_seen == clock.now());
  // Without the rule the triplet lives --max-age.
  const Request unruled = sample_request("203.0.113.7", "a@foo.test", "b@elsewhere.test");
  CHECK(pass(g, unruled, 300).action == Action::kPass);
  clock.advance(2 * 86400);
  CHECK(reason_text(g.decide(unruled)) == "triplet found");
}

TEST_CASE_FIXTURE(Fixture, "continue rules pass their options on to the deciding rule") {
  const Greylister g = make(
      "racl \"long\" continue from @foo.test delay 20m autowhite 2d\n"
      "racl \"short\" continue rcpt @bar.test delay 2m\n"
      "racl \"reply\" greylist rcpt b@bar.test msg \"come back later\"\n");
  const Decision d = g.decide(sample_request());
  CHECK(d.seconds_left == 120);  // the later continue's delay wins
  REQUIRE(d.rule);
  CHECK(d.rule->rule.id == "reply");
  CHECK(d.rule->options.msg == "come back later");
  CHECK(d.rule->options.autowhite == std::chrono::seconds(2 * 86400));
  REQUIRE(d.rule->continued.size() == 2);
  CHECK(d.rule->continued[0].id == "long");

  // Only continue rules matched: greylisted as without rules, with their options.
  const Decision c = g.decide(sample_request("203.0.113.7", "a@foo.test", "z@zzz.test"));
  CHECK(c.seconds_left == 1200);
  REQUIRE(c.rule);
  CHECK(c.rule->rule.id == "long");
}

TEST_CASE_FIXTURE(Fixture, "greytrap: the network stays tempfailed past the delay, another passes") {
  config.delay = 300;
  const Greylister g = make(kTrapRules);
  const Decision hit = g.decide(sample_request("203.0.113.7", "spam@foo.test", "trap@bar.test"));
  CHECK(hit.action == Action::kGreylist);
  CHECK(hit.reason == Reason::kGreytrap);
  CHECK(reason_text(hit) == "greytrap");
  CHECK(hit.seconds_left == 7200);
  REQUIRE(hit.rule);
  CHECK(hit.rule->action == RuleAction::kGreytrap);
  CHECK(decision_log_line(sample_request(), hit).starts_with(
      "action=greylist, reason=greytrap, rule=rules:1 (trap), client_name="));
  CHECK(store.count(Table::kTriplets).value() == 0);  // nothing else written
  const auto trap = store.get(Table::kClients, encode_greytrap_key("203.0.113.0")).value();
  REQUIRE(trap);
  const auto record = decode_trap(*trap);
  REQUIRE(record);
  CHECK(record->trapped_at == clock.now());
  CHECK(record->hold_until == clock.now() + 7200);

  // Later mail from the network (another host of the /24 too) is
  // tempfailed well past the delay, without a triplet.
  const Request later = sample_request("203.0.113.99", "x@foo.test", "b@bar.test");
  for (int i = 0; i < 3; ++i) {
    const Decision d = g.decide(later);
    CHECK(d.action == Action::kGreylist);
    CHECK(reason_text(d) == "greytrap (203.0.113.0/24)");
    CHECK(d.seconds_left == 7200 - 400 * i);
    CHECK_FALSE(d.rule);
    clock.advance(400);
  }
  CHECK(store.count(Table::kTriplets).value() == 0);
  // Another network passes after the delay meanwhile.
  CHECK(pass(g, sample_request("192.0.2.1"), 300).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "greytrap: a trapped network never counts towards the auto-whitelists") {
  config.auto_whitelist_clients = 1;
  config.auto_whitelist_domains = 1;
  config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
  const Greylister g = make(kTrapRules);
  g.decide(sample_request("203.0.113.7", "a@foo.test", "trap@bar.test"));
  CHECK(store.count(Table::kClients).value() == 1);  // the trap only
  for (int i = 0; i < 4; ++i) {
    CHECK(g.decide(sample_request()).reason == Reason::kGreytrap);
    clock.advance(1800);
  }
  CHECK(store.count(Table::kClients).value() == 1);
  CHECK(store.count(Table::kTriplets).value() == 0);
}

TEST_CASE_FIXTURE(Fixture, "greytrap: when the hold ends the network is greylisted as usual") {
  const Greylister g = make(kTrapRules);
  g.decide(sample_request("203.0.113.7", "a@foo.test", "trap@bar.test"));
  clock.advance(7199);
  CHECK(g.decide(sample_request()).seconds_left == 1);
  clock.advance(1);
  const Decision d = g.decide(sample_request());
  CHECK(d.reason == Reason::kNew);
  clock.advance(300);
  CHECK(g.decide(sample_request()).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "greytrap: a second hit keeps the first hit's time and the later end") {
  const Greylister g = make(kTrapRules);
  const EpochSeconds first = clock.now();
  g.decide(sample_request("203.0.113.7", "a@foo.test", "trap@bar.test"));
  clock.advance(3600);
  g.decide(sample_request("203.0.113.8", "b@foo.test", "trap@bar.test"));
  const auto record = decode_trap(*store.get(Table::kClients, encode_greytrap_key("203.0.113.0")).value());
  REQUIRE(record);
  CHECK(record->trapped_at == first);
  CHECK(record->hold_until == clock.now() + 7200);
}

TEST_CASE_FIXTURE(Fixture, "greytrap: default hold, IPv6 /64, privacy key") {
  config.privacy = true;
  config.privacy_key = "secret";
  const Greylister g = make("racl greytrap rcpt trap@bar.test\n");
  const Decision hit = g.decide(sample_request("2001:db8:1:2::7", "a@foo.test", "trap@bar.test"));
  CHECK(hit.seconds_left == RuleSet::kDefaultHold.count());
  const std::string key = g.keys().greytrap_key(sample_request("2001:db8:1:2::7"));
  CHECK(key.starts_with(kHashedGreytrapKeyPrefix));
  CHECK(store.get(Table::kClients, key).value());
  CHECK(reason_text(g.decide(sample_request("2001:db8:1:2:ffff::1"))) == "greytrap (2001:db8:1:2::/64)");
  CHECK(g.decide(sample_request("2001:db8:1:3::1")).reason == Reason::kNew);
}

TEST_CASE_FIXTURE(Fixture, "greytrap records: swept at the end of the hold, the live one kept") {
  const Greylister g = make(kTrapRules);
  g.decide(sample_request("203.0.113.7", "a@foo.test", "trap@bar.test"));
  clock.advance(3600);
  g.decide(sample_request("192.0.2.7", "a@foo.test", "trap@bar.test"));
  CHECK(entry_expires_at(Table::kClients, encode_greytrap_key("192.0.2.0"),
                         *store.get(Table::kClients, encode_greytrap_key("192.0.2.0")).value(), config) ==
        clock.now() + 7200);
  clock.advance(3600);
  ExpirySweeper sweeper(config, store, clock);
  std::size_t erased = 0;
  for (int i = 0; i < 4; ++i) erased += sweeper.step(100).value().erased;
  CHECK(erased == 1);
  CHECK_FALSE(store.get(Table::kClients, encode_greytrap_key("203.0.113.0")).value());
  CHECK(store.get(Table::kClients, encode_greytrap_key("192.0.2.0")).value());
}

TEST_CASE_FIXTURE(Fixture, "order: static whitelist and auto-whitelists before the rules") {
  config.auto_whitelist_clients = 1;
  config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
  Greylister g = make("racl blacklist default\n");
  g.set_whitelist(std::make_shared<ListWhitelist>());
  CHECK(g.decide(sample_request("203.0.113.7", "a@foo.test", "postmaster@bar.test")).reason ==
        Reason::kRecipientWhitelist);
  CHECK(g.decide(sample_request()).action == Action::kReject);
  // The client becomes auto-whitelisted without rules; then it beats them.
  g.set_rules(nullptr);
  CHECK(pass(g, sample_request(), 300).action == Action::kPass);
  g.set_rules(rules("racl blacklist default\n"));
  CHECK(g.decide(sample_request("203.0.113.7", "z@foo.test", "z@bar.test")).reason ==
        Reason::kClientAwl);
}

TEST_CASE_FIXTURE(Fixture, "order: first match wins; whitelist and blacklist rules beat a trap") {
  const Greylister g = make("racl \"ok\" whitelist from @friend.test\n"
                            "racl \"trap\" greytrap rcpt trap@bar.test\n"
                            "racl blacklist from @spam.test\n");
  g.decide(sample_request("203.0.113.7", "a@friend.test", "trap@bar.test"));  // whitelisted first
  CHECK(store.count(Table::kClients).value() == 0);
  CHECK(g.decide(sample_request("203.0.113.7", "a@foo.test", "trap@bar.test")).reason ==
        Reason::kGreytrap);
  CHECK(store.count(Table::kClients).value() == 1);
  CHECK(g.decide(sample_request("203.0.113.7", "a@foo.test")).reason == Reason::kGreytrap);
  CHECK(g.decide(sample_request("203.0.113.7", "a@friend.test")).reason == Reason::kRuleWhitelist);
  CHECK(g.decide(sample_request("203.0.113.7", "a@spam.test")).action == Action::kReject);
  CHECK(g.decide(sample_request("192.0.2.7", "a@spam.test")).action == Action::kReject);
}

TEST_CASE_FIXTURE(Fixture, "without greytrap rules no trap is read, a stored one is ignored") {
  const Greylister g = make("racl greylist default delay 1m\n");
  store.put(Table::kClients, encode_greytrap_key("203.0.113.0"), encode_trap({clock.now(), clock.now() + 999}), 0);
  CHECK(g.decide(sample_request()).reason == Reason::kNew);
}

TEST_CASE_FIXTURE(Fixture, "dnsrbl: plan names the query; decide reads the answers; none means not listed") {
  Greylister g = make(kListRules);
  const RulePlan plan = g.plan(sample_request());
  REQUIRE(plan.rules);
  REQUIRE(plan.assessment.queries.size() == 1);
  CHECK(plan.assessment.queries[0].name == "7.113.0.203.bl.example");
  DnsAnswers answers;
  answers["7.113.0.203.bl.example"] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
  CHECK(g.decide(sample_request(), plan, answers).action == Action::kReject);
  CHECK(g.decide(sample_request(), plan, {}).reason == Reason::kNew);
  clock.advance(10);
  answers["7.113.0.203.bl.example"] = DnsAnswer{DnsAnswer::Kind::kFailed, {}};
  CHECK(g.decide(sample_request(), plan, answers).reason == Reason::kEarlyRetry);
  // The plan's rules decide, even if others were set meanwhile.
  g.set_rules(nullptr);
  answers["7.113.0.203.bl.example"] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
  CHECK(g.decide(sample_request(), plan, answers).action == Action::kReject);
  CHECK(g.plan(sample_request()).assessment.queries.empty());
}

TEST_CASE_FIXTURE(Fixture, "dnsrbl: a statically whitelisted request needs no lookup") {
  Greylister g = make(kListRules);
  g.set_whitelist(std::make_shared<ListWhitelist>());
  const Request listed = sample_request("203.0.113.7", "a@foo.test", "postmaster@bar.test");
  const RulePlan plan = g.plan(listed);
  CHECK(plan.assessment.queries.empty());
  CHECK(plan.lookups_skipped);
  CHECK(g.decide(listed, plan, {}).reason == Reason::kRecipientWhitelist);
  CHECK(g.plan(sample_request()).assessment.queries.size() == 1);
}

TEST_CASE_FIXTURE(Fixture, "dnsrbl: a client the client auto-whitelist passes needs no lookup") {
  Greylister g = on_client_awl(store, std::string(kListRules) + "racl blacklist rcpt late@bar.test\n");
  const Request known = sample_request("203.0.113.7", "z@foo.test", "late@bar.test");
  const RulePlan plan = g.plan(known);
  CHECK(plan.assessment.queries.empty());
  CHECK(plan.lookups_skipped);
  CHECK(g.decide(known, plan, {}).reason == Reason::kClientAwl);
  // Another network is not on it: its lookup is asked.
  const RulePlan other = g.plan(sample_request("192.0.2.7"));
  CHECK(other.assessment.queries.size() == 1);
  CHECK_FALSE(other.lookups_skipped);
  // The whitelist reloaded between plan() and decide() so that the client
  // AWL is off: the rules decide, every list "not listed".
  GreylistConfig off = config;
  off.auto_whitelist_clients = 0;
  REQUIRE(g.set_config(off).ok());
  const Decision late = g.decide(known, plan, {});
  CHECK(late.action == Action::kReject);
  REQUIRE(late.rule);
  CHECK(late.rule->rule.line == 3);
}

TEST_CASE_FIXTURE(Fixture, "dnsrbl: decide() takes the client AWL entry as plan() read it") {
  Greylister g = on_client_awl(store, kListRules);
  const Request known = sample_request("203.0.113.7", "z@foo.test");
  const std::string key = g.client_key(known);

  SUBCASE("the entry gone meanwhile: still passed; its refresh writes nothing") {
    clock.advance(kLastSeenRefreshSeconds + 1);  // a pass now refreshes the entry
    const RulePlan plan = g.plan(known);
    REQUIRE(plan.client_awl);
    CHECK(plan.client_awl->key == key);
    CHECK(plan.lookups_skipped);
    REQUIRE(store.erase(Table::kClients, key).ok());
    CHECK(g.decide(known, plan, {}).reason == Reason::kClientAwl);
    CHECK_FALSE(store.get(Table::kClients, key).value());
    CHECK(g.plan(known).assessment.queries.size() == 1);  // a new plan sees it gone
  }
  SUBCASE("an entry added meanwhile: not yet passed, the rules and the triplet decide") {
    const Request stranger = sample_request("192.0.2.7", "z@foo.test");
    const RulePlan plan = g.plan(stranger);
    REQUIRE(plan.client_awl);
    CHECK_FALSE(plan.client_awl->record);
    REQUIRE(plan.assessment.queries.size() == 1);
    REQUIRE(store.put(Table::kClients, g.client_key(stranger),
                      encode_client({5, clock.now()}), clock.now() + 3600).ok());
    DnsAnswers answers;
    answers[plan.assessment.queries[0].name] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
    CHECK(g.decide(stranger, plan, answers).action == Action::kReject);
    CHECK(g.decide(stranger, plan, {}).reason == Reason::kNew);
    CHECK(g.decide(stranger).reason == Reason::kClientAwl);  // a new plan sees it
  }
  SUBCASE("a plan for another request: decide() reads the entry itself") {
    const RulePlan plan = g.plan(sample_request("192.0.2.7"));
    CHECK(g.decide(known, plan, {}).reason == Reason::kClientAwl);
  }
}

TEST_CASE_FIXTURE(Fixture, "dnsrbl: a store error in plan(): the lookups are asked, decide() reads again") {
  FailingStore failing(store);
  Greylister g = on_client_awl(failing, kListRules);
  failing.fail_reads = true;
  const RulePlan plan = g.plan(sample_request());
  CHECK(plan.assessment.queries.size() == 1);
  CHECK_FALSE(plan.lookups_skipped);
  CHECK_FALSE(plan.client_awl);
  CHECK(g.decide(sample_request(), plan, {}).reason == Reason::kStoreError);
  failing.fail_reads = false;
  CHECK(g.decide(sample_request(), plan, {}).reason == Reason::kClientAwl);
}

TEST_CASE_FIXTURE(Fixture, "the client AWL entry is read once a request, with or without a plan") {
  GetCountingStore counting(store);
  Greylister g = on_client_awl(counting, "");
  const Request known = sample_request("203.0.113.7", "z@foo.test");
  const Request stranger = sample_request("192.0.2.7", "z@foo.test");
  const auto gets = [&](const Request& r) { return counting.gets(Table::kClients, g.client_key(r)); };
  counting.reset();

  SUBCASE("rules with lookups: plan() reads, decide() does not") {
    g.set_rules(rules(kListRules));
    const RulePlan known_plan = g.plan(known);
    CHECK(g.decide(known, known_plan, {}).reason == Reason::kClientAwl);
    CHECK(gets(known) == 1);
    const RulePlan stranger_plan = g.plan(stranger);
    CHECK(stranger_plan.client_awl);
    CHECK(g.decide(stranger, stranger_plan, {}).reason == Reason::kNew);
    CHECK(gets(stranger) == 1);
    CHECK(g.decide(known).reason == Reason::kClientAwl);  // plan() and decide() inside
    CHECK(gets(known) == 2);
  }
  SUBCASE("no lookups wanted: plan() reads nothing, decide() reads") {
    g.set_rules(rules("racl greylist default\n"));
    const RulePlan plan = g.plan(known);
    CHECK_FALSE(plan.client_awl);
    CHECK(gets(known) == 0);
    CHECK(g.decide(known, plan, {}).reason == Reason::kClientAwl);
    CHECK(gets(known) == 1);
  }
  SUBCASE("decide_traced(): both reads through the view, once") {
    g.set_rules(rules(kListRules));
    DryRunStore dry(store);
    GetCountingStore view(dry);
    ClientAwlTrace trace;
    CHECK(g.decide_traced(known, clock.now(), view, trace).reason == Reason::kClientAwl);
    CHECK(view.gets(Table::kClients, g.client_key(known)) == 1);
    CHECK(gets(known) == 0);
    REQUIRE(trace.record);
    CHECK(trace.record->deliveries == 1);
  }
}

TEST_CASE_FIXTURE(Fixture, "concurrent set_rules while decide runs: every decision is one rule set's") {
  Greylister g(config, store, clock);
  const auto white = rules("racl whitelist default\n");
  const auto black = rules("racl blacklist default\n");
  g.set_rules(white);
  std::atomic<bool> stop{false};
  std::atomic<int> odd{0};
  std::vector<std::thread> deciders;
  for (int t = 0; t < 4; ++t) {
    deciders.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        const Decision d = g.decide(sample_request());
        const bool known = d.reason == Reason::kRuleWhitelist || d.reason == Reason::kRuleBlacklist;
        if (!known || !d.rule) ++odd;
      }
    });
  }
  std::thread swapper([&] {
    for (int i = 0; i < 300 && !stop.load(); ++i) g.set_rules(i % 2 == 0 ? black : white);
  });
  for (auto& t : deciders) t.join();
  stop = true;
  swapper.join();
  CHECK(odd == 0);
  CHECK(store.count(Table::kTriplets).value() == 0);
}

}  // TEST_SUITE
