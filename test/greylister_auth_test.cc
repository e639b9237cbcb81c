// Greylister's SMTP AUTH step (step 0): an authenticated client passes as
// "SMTP AUTH" without store access unless a rule that names auth matches;
// only such rules apply to it. Over a MemoryStore behind a FailingStore
// (to count and fail store calls) and a FakeClock.
#include <doctest/doctest.h>

#include "greylist/greylister.h"
#include "greylist/log_line.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"
#include "support/sample_request.h"

using namespace greylist;
using greylist::testing::FailingStore;
using greylist::testing::FakeClock;
using greylist::testing::plain_config;
using greylist::testing::sample_request;
using Action = Decision::Action;
using Reason = Decision::Reason;

namespace {

struct Fixture {
  MemoryStore memory;
  FailingStore store{memory};  // counts the calls; fails them on demand
  FakeClock clock;
  // A Greylister with the rules of `text` ("": none).
  Greylister make(std::string_view text) {
    Greylister g(plain_config(), store, clock);
    if (text.empty()) return g;
    auto set = RuleSet::parse(text, "rules");
    REQUIRE_MESSAGE(set.ok(), set.status().message());
    g.set_rules(set.value());
    return g;
  }
};

Request as(std::string user, std::string client = "203.0.113.7") {
  Request r = sample_request(std::move(client));
  r.sasl_username = std::move(user);
  return r;
}

class ClientWhitelist final : public Whitelist {
 public:
  std::optional<WhitelistMatch> match(const Request& r) const override {
    if (r.client_address != "203.0.113.7") return std::nullopt;
    return WhitelistMatch{WhitelistMatch::List::kClients, "whitelist_clients:1 203.0.113.7"};
  }
};

}  // namespace

TEST_SUITE("greylister_auth") {

TEST_CASE_FIXTURE(Fixture, "without rules: SMTP AUTH passes, logged as postgrey words it, no store access") {
  const Greylister g = make("");
  store.fail_reads = true;
  store.fail_writes = true;
  const Request alice = as("alice");
  const RulePlan plan = g.plan(alice);
  CHECK(plan.smtp_auth_passes);
  CHECK(plan.assessment.queries.empty());
  const Decision d = g.decide(alice, plan, {});
  CHECK(d.action == Action::kWhitelisted);
  CHECK(d.reason == Reason::kSmtpAuth);
  CHECK(reason_text(d) == "SMTP AUTH");
  CHECK_FALSE(d.rule);
  CHECK(store.calls == 0);
  const auto lines = decision_log_entries(alice, d);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].message.find("action=pass, reason=SMTP AUTH, client_name=mail.foo.test") !=
        std::string::npos);
  // An anonymous client is greylisted as always (and reads the store).
  CHECK_FALSE(g.plan(sample_request()).smtp_auth_passes);
  CHECK(g.decide(sample_request()).action == Action::kError);
}

TEST_CASE_FIXTURE(Fixture, "rules that do not name auth never apply to an authenticated client") {
  const Greylister g = make("dnsrbl \"pbl\" pbl.example 127.0.0.10\n"
                            "racl blacklist dnsrbl \"pbl\"\n"
                            "racl blacklist addr 203.0.113.0/24\n"
                            "racl greylist default delay 1h\n");
  const RulePlan plan = g.plan(as("alice"));
  CHECK(plan.assessment.queries.empty());  // its own users are not looked up
  CHECK(plan.smtp_auth_passes);
  CHECK(g.decide(as("alice")).reason == Reason::kSmtpAuth);
  CHECK(g.plan(sample_request()).assessment.queries.size() == 1);
  const Decision anonymous = g.decide(sample_request());
  CHECK(anonymous.action == Action::kReject);
  REQUIRE(anonymous.rule);
  CHECK(anonymous.rule->rule.line == 3);
  CHECK(memory.count(Table::kTriplets).value() == 0);
}

TEST_CASE_FIXTURE(Fixture, "a rule that names auth decides: blacklist, greylist with its delay") {
  const Greylister g = make("racl \"stolen\" blacklist auth mallory\n"
                            "racl \"bulk\" greylist auth /^bulk/ delay 10m\n");
  const Decision mallory = g.decide(as("Mallory"));  // case ignored
  CHECK(mallory.action == Action::kReject);
  REQUIRE(mallory.rule);
  CHECK(mallory.rule->rule.id == "stolen");
  CHECK_FALSE(g.plan(as("mallory")).smtp_auth_passes);

  const Decision first = g.decide(as("bulk7"));
  CHECK(first.action == Action::kGreylist);
  CHECK(first.reason == Reason::kNew);
  REQUIRE(first.rule);
  CHECK(first.rule->rule.id == "bulk");
  clock.advance(300);  // --delay has passed, the rule's 10 minutes have not
  CHECK(g.decide(as("bulk7")).reason == Reason::kEarlyRetry);
  clock.advance(300);
  CHECK(g.decide(as("bulk7")).action == Action::kPass);

  CHECK(g.decide(as("alice")).reason == Reason::kSmtpAuth);
}

TEST_CASE_FIXTURE(Fixture, "a list of auth values names auth; 'not auth' rules are the anonymous clients'") {
  const Greylister g = make("list \"staff\" auth { carol }\n"
                            "racl \"staff\" whitelist list \"staff\"\n"
                            "racl \"anon\" blacklist not auth /.*/ addr 203.0.113.0/24\n");
  const Decision carol = g.decide(as("carol"));
  CHECK(carol.reason == Reason::kRuleWhitelist);
  CHECK(g.decide(as("dave")).reason == Reason::kSmtpAuth);  // 'not auth' does not hold for dave
  CHECK(g.decide(sample_request()).action == Action::kReject);
}

TEST_CASE_FIXTURE(Fixture, "order: SMTP AUTH before the static whitelist; a matching auth rule after it") {
  Greylister g = make("racl blacklist auth mallory\n");
  g.set_whitelist(std::make_shared<ClientWhitelist>());
  // Step 0 answers first, as the milter always did.
  CHECK(g.decide(as("alice")).reason == Reason::kSmtpAuth);
  // A rule that names auth goes through the usual order: the static
  // whitelist still passes the client before any rule.
  CHECK(g.decide(as("mallory")).reason == Reason::kClientWhitelist);
  CHECK(g.decide(as("mallory", "192.0.2.7")).action == Action::kReject);
}

TEST_CASE_FIXTURE(Fixture, "an auth rule with a DNS list: plan asks the lookup, decide uses the answer") {
  const Greylister g = make("dnsrbl \"bad\" bad.example 127.0.0.2\n"
                            "racl blacklist auth /.*/ dnsrbl \"bad\"\n");
  const Request alice = as("alice");
  const RulePlan plan = g.plan(alice);
  REQUIRE(plan.assessment.queries.size() == 1);
  CHECK_FALSE(plan.smtp_auth_passes);
  DnsAnswers answers;
  answers["7.113.0.203.bad.example"] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
  CHECK(g.decide(alice, plan, answers).action == Action::kReject);
  CHECK(g.decide(alice, plan, {}).reason == Reason::kSmtpAuth);  // not listed
}

}  // TEST_SUITE
