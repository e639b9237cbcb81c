// greylistctl's parts in-process: reading stored keys back, JSON and text
// output, and DecisionExplainer, which must predict Greylister::decide()
// exactly while writing nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "greylist/registered_domains.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"
#include "support/last_two_labels.h"
#include "tools/ctl_output.h"
#include "tools/decision_explainer.h"
#include "tools/stored_key.h"

namespace greylist {
namespace {

std::vector<StoreEntry> everything(Store& store) {
  std::vector<StoreEntry> out;
  for (const Table table : {Table::kTriplets, Table::kClients}) {
    auto entries = store.scan(table, "", 100000);
    REQUIRE(entries.ok());
    for (auto& entry : entries.value()) out.push_back(entry);
  }
  return out;
}

bool same(const std::vector<StoreEntry>& a, const std::vector<StoreEntry>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].key != b[i].key || a[i].value != b[i].value) return false;
  }
  return true;
}

Request make_request(const std::string& address, const std::string& sender,
                     const std::string& recipient, const std::string& name = "unknown") {
  Request r;
  r.client_address = address;
  r.client_name = name;
  r.sender = sender;
  r.recipient = recipient;
  return r;
}

class ListWhitelist final : public Whitelist {
 public:
  std::optional<WhitelistMatch> match(const Request& request) const override {
    if (request.recipient == "postmaster@bar.test") {
      return WhitelistMatch{WhitelistMatch::List::kRecipients, "whitelist_recipients:1 postmaster@"};
    }
    return std::nullopt;
  }
};

}  // namespace

TEST_SUITE("greylistctl_parts") {

TEST_CASE("stored keys are read back as record_codec writes them") {
  const auto triplet = StoredKey::parse(encode_triplet_key("192.0.2.0", "a/b@x.test", "c:d@y.test"));
  REQUIRE(triplet);
  CHECK(triplet->kind == StoredKey::Kind::kTriplet);
  CHECK_FALSE(triplet->hashed);
  CHECK(triplet->client == "192.0.2.0");
  CHECK(triplet->sender == "a/b@x.test");
  CHECK(triplet->recipient == "c:d@y.test");

  const auto null_sender = StoredKey::parse(encode_triplet_key("2001:db8::", "", "r@y.test"));
  REQUIRE(null_sender);
  CHECK(null_sender->client == "2001:db8::");
  CHECK(null_sender->sender.empty());

  const auto pool = StoredKey::parse(encode_triplet_key(pool_client("outlook.com"), "s@x", "r@y"));
  REQUIRE(pool);
  CHECK(pool->client == "pool:outlook.com");

  const auto client = StoredKey::parse(encode_client_key("198.51.100.0"));
  REQUIRE(client);
  CHECK(client->kind == StoredKey::Kind::kClient);
  CHECK(client->client == "198.51.100.0");

  const auto domain = StoredKey::parse(encode_domain_key("198.51.100.0", "foo.test"));
  REQUIRE(domain);
  CHECK(domain->kind == StoredKey::Kind::kDomain);
  CHECK(domain->client == "198.51.100.0");
  CHECK(domain->domain == "foo.test");

  const auto hashed = StoredKey::parse("t1h:0123456789abcdef");
  REQUIRE(hashed);
  CHECK(hashed->hashed);
  CHECK(hashed->kind == StoredKey::Kind::kTriplet);
  CHECK(hashed->hash == "0123456789abcdef");
  CHECK(StoredKey::parse("c1h:ab")->kind == StoredKey::Kind::kClient);
  CHECK(StoredKey::parse("d1h:ab")->kind == StoredKey::Kind::kDomain);
  const auto trap = StoredKey::parse(encode_greytrap_key("2001:db8:1::"));
  REQUIRE(trap);
  CHECK(trap->kind == StoredKey::Kind::kGreytrap);
  CHECK(trap->client == "2001:db8:1::");
  CHECK(StoredKey::parse("g1h:ab")->kind == StoredKey::Kind::kGreytrap);

  // Hostile or foreign keys: rejected, never read past their end.
  for (const std::string& bad : std::vector<std::string>{"", "t1:", "t1:5:abc", "t1:3:abc3:def", "t1:3:abc3:def3:ghiX",
                                "t1:-1:a", "t1:99999999999:a", "t1::a0:0:", "t2:1:a1:b1:c",
                                "c1:", "d1:1:a", "g1:", "g1h:x", "t1h:", "t1h:XYZ", "watchdog-probe",
                                std::string("t1:1:\0") + "1:b1:c"}) {
    CAPTURE(bad);
    CHECK_FALSE(StoredKey::parse(bad));
  }
  CHECK(StoredKey::parse("t1:0:0:0:"));  // three empty fields: well-formed
}

TEST_CASE("JSON strings: quotes, backslashes, controls and invalid UTF-8 escaped") {
  CHECK(json_string("a@b.test") == "\"a@b.test\"");
  CHECK(json_string("") == "\"\"");
  CHECK(json_string("q\"uo\\te") == "\"q\\\"uo\\\\te\"");
  CHECK(json_string("a\nb\rc\td") == "\"a\\nb\\rc\\td\"");
  CHECK(json_string(std::string("nul\0x\x1f\x7f", 7)) == "\"nul\\u0000x\\u001f\\u007f\"");
  CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");           // valid UTF-8 kept
  CHECK(json_string("\xe2\x82\xac") == "\"\xe2\x82\xac\"");          // the euro sign
  CHECK(json_string("bad\xff\xc3") == "\"bad\\u00ff\\u00c3\"");      // invalid bytes escaped
  CHECK(json_string("\xc0\xaf") == "\"\\u00c0\\u00af\"");            // overlong '/'
  CHECK(json_string("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\""); // a surrogate
}

TEST_CASE("text fields never contain whitespace; times are ISO 8601 UTC") {
  CHECK(text_field("a@b.test") == "a@b.test");
  CHECK(text_field("") == "<>");
  CHECK(text_field("a b\tc\\d\xff") == "a\\x20b\\x09c\\x5cd\\xff");
  CHECK(iso8601(0) == "1970-01-01T00:00:00Z");
  CHECK(iso8601(1795590188) == "2026-11-25T07:03:08Z");
}

// The decision paths: the daemon's (Greylister::decide) and greylistctl
// whitelist-check's (DecisionExplainer) run over the same stored state must
// give the same decision, and the explainer must write nothing.
struct PathScenario {
  const char* name;
  void (*configure)(GreylistConfig&);
  // Brings the store to the state to decide in; `before` keys by network
  // (--pool-by-domain off), `g` is the Greylister under test.
  void (*prepare)(const Greylister& g, const Greylister& before, testing::FakeClock& clock);
  Request request;
  Decision::Action action;
  const char* reason;
};

using testing::LastTwoLabels;

const Request kA = make_request("192.0.2.7", "a@foo.test", "r@bar.test");
const Request kPoolA =
    make_request("40.107.1.1", "a@foo.test", "r@bar.test", "mail-a.protection.outlook.com");
const Request kPoolB =
    make_request("52.100.9.9", "a@foo.test", "r@bar.test", "mail-b.protection.outlook.com");

void no_config(GreylistConfig&) {}
void no_awl(GreylistConfig& c) {
  c.auto_whitelist_clients = 0;
  c.auto_whitelist_domains = 0;
}
void nothing(const Greylister&, const Greylister&, testing::FakeClock&) {}
void seen(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  g.decide(kA);
  clock.advance(100);
}
void delayed(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  g.decide(kA);
  clock.advance(301);
}
void passed(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  delayed(g, g, clock);
  g.decide(kA);
  clock.advance(10);
}
void window_over(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  g.decide(kA);
  clock.advance(g.config().retry_window + 10);
}
void max_age_over(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  delayed(g, g, clock);
  g.decide(kA);
  clock.advance(g.config().max_age + 10);  // not swept yet
}
void pool_seen(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  g.decide(kPoolA);
  clock.advance(400);
}
void network_keyed(const Greylister&, const Greylister& before, testing::FakeClock& clock) {
  before.decide(kPoolA);
  clock.advance(400);
}
void client_counted(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  delayed(g, g, clock);
  g.decide(kA);  // counts the client: threshold 1 reached
}
void client_awl_1(GreylistConfig& c) { c.auto_whitelist_clients = 1; }
void domain_counted(const Greylister& g, const Greylister&, testing::FakeClock& clock) {
  for (const char* sender : {"a@foo.test", "b@foo.test"}) {
    const Request r = make_request("192.0.2.7", sender, "r@bar.test");
    g.decide(r);
    clock.advance(301);
    g.decide(r);
  }
}
void domain_awl_only(GreylistConfig& c) { c.auto_whitelist_clients = 0; }

const PathScenario kPathScenarios[] = {
    {"new", no_config, nothing, kA, Decision::Action::kGreylist, "new"},
    {"early retry", no_config, seen, kA, Decision::Action::kGreylist, "early-retry (200s missing)"},
    {"retry after the delay", no_config, delayed, kA, Decision::Action::kPass, "triplet found"},
    {"passed", no_config, passed, kA, Decision::Action::kPass, "triplet found"},
    {"retry window expired", no_config, window_over, kA, Decision::Action::kGreylist, "new"},
    {"max age over, not swept yet: forgotten as if swept", no_config, max_age_over, kA,
     Decision::Action::kGreylist, "new"},
    {"pool retry from another network", no_awl, pool_seen, kPoolB, Decision::Action::kPass,
     "pool (outlook.com)"},
    {"network-keyed entry under pool keying", no_awl, network_keyed, kPoolA,
     Decision::Action::kPass, "triplet found"},
    {"client AWL", client_awl_1, client_counted,
     make_request("192.0.2.8", "z@other.test", "z@bar.test"), Decision::Action::kWhitelisted,
     "client AWL"},
    {"domain AWL", domain_awl_only, domain_counted,
     make_request("192.0.2.9", "c@foo.test", "s@bar.test"), Decision::Action::kWhitelisted,
     "domain AWL"},
    {"static whitelist", no_config, nothing,
     make_request("192.0.2.8", "x@y.test", "postmaster@bar.test"),
     Decision::Action::kWhitelisted, "recipient whitelist (whitelist_recipients:1 postmaster@)"},
};

TEST_CASE("the daemon's path and whitelist-check's give the same decision; the explainer writes nothing") {
  for (const PathScenario& scenario : kPathScenarios) {
    CAPTURE(scenario.name);
    MemoryStore store;
    testing::FakeClock clock;
    LastTwoLabels domains;
    GreylistConfig config;
    // the scenarios' clients have no verified name: one delay, network AWL
    config.dynamic_delay = 0;
    config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
    scenario.configure(config);
    GreylistConfig network_keyed_config = config;
    network_keyed_config.pool_by_domain = false;
    Greylister greylister(config, store, clock, &domains);
    const Greylister before(network_keyed_config, store, clock, &domains);
    greylister.set_whitelist(std::make_shared<ListWhitelist>());
    scenario.prepare(greylister, before, clock);

    const auto stored = everything(store);
    const DecisionExplainer explainer(greylister, store);
    auto explained = explainer.explain(scenario.request, clock.now());
    REQUIRE(explained.ok());
    CHECK(same(stored, everything(store)));
    CHECK_FALSE(explained.value().checks.empty());

    const Decision decided = greylister.decide(scenario.request);
    const Decision& predicted = explained.value().decision;
    CHECK(decided.action == scenario.action);
    CHECK(reason_text(decided) == scenario.reason);
    CHECK(predicted.action == decided.action);
    CHECK(predicted.reason == decided.reason);
    CHECK(reason_text(predicted) == reason_text(decided));
    CHECK(predicted.seconds_left == decided.seconds_left);
    CHECK(predicted.delayed_seconds == decided.delayed_seconds);
  }
}

TEST_CASE("the explainer narrates the pool fallback and a restarted retry window") {
  MemoryStore store;
  testing::FakeClock clock;
  LastTwoLabels domains;
  GreylistConfig config;
  no_awl(config);
  GreylistConfig off = config;
  off.pool_by_domain = false;
  const Greylister greylister(config, store, clock, &domains);
  network_keyed(greylister, Greylister(off, store, clock, &domains), clock);
  const DecisionExplainer explainer(greylister, store);
  auto pooled = explainer.explain(kPoolA, clock.now());
  REQUIRE(pooled.ok());
  const auto& checks = pooled.value().checks;
  CHECK(std::find(checks.begin(), checks.end(),
                  "triplet (pool:outlook.com, a@foo.test, r@bar.test): not seen yet") !=
        checks.end());
  bool copied = false;
  for (const auto& line : checks) {
    if (line.starts_with("triplet keyed by the network 40.107.1.0: first seen") &&
        line.ends_with(": copied under the pool key")) {
      copied = true;
    }
  }
  CHECK(copied);

  window_over(greylister, greylister, clock);
  auto late = explainer.explain(kA, clock.now());
  REQUIRE(late.ok());
  CHECK(reason_text(late.value().decision) == "new");
  CHECK(std::find(late.value().checks.begin(), late.value().checks.end(),
                  "retry window: 172800 s passed since it was first seen: it starts over") !=
        late.value().checks.end());
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  const bool found = std::find(lines.begin(), lines.end(), line) != lines.end();
  if (!found) {
    for (const auto& l : lines) MESSAGE(l);
  }
  return found;
}

TEST_CASE("the explainer names the rule, each DNS list's answer and the greytrap, as decide() decides") {
  MemoryStore store;
  testing::FakeClock clock;
  GreylistConfig config;
  no_awl(config);
  Greylister greylister(config, store, clock);
  auto rules = RuleSet::parse(
      "dnsrbl \"wl\" wl.example 127.0.10.0/24\n"
      "racl \"dnswl\" whitelist dnsrbl \"wl\"\n"
      "racl \"trap\" greytrap rcpt trap@bar.test hold 1h\n"
      "racl continue from @foo.test delay 2m\n"
      "racl \"bar\" greylist rcpt @bar.test\n", "rules");
  REQUIRE(rules.ok());
  greylister.set_rules(rules.value());
  const DecisionExplainer explainer(greylister, store);
  const Request r = make_request("192.0.2.7", "a@foo.test", "r@bar.test");
  const std::string query = "7.2.0.192.wl.example";
  REQUIRE(greylister.plan(r).assessment.queries.size() == 1);

  DnsAnswers listed;
  listed[query] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 10, 2}}};
  auto white = explainer.explain(r, clock.now(), listed);
  REQUIRE(white.ok());
  CHECK(reason_text(white.value().decision) == "rule whitelist");
  CHECK(has_line(white.value().checks, "dnsrbl \"wl\": " + query + ": listed (127.0.10.2)"));
  CHECK(has_line(white.value().checks, "rules: rules:2 (dnswl) whitelist"));

  auto plain = explainer.explain(r, clock.now(), {});
  REQUIRE(plain.ok());
  CHECK(has_line(plain.value().checks,
                 "dnsrbl \"wl\": " + query + ": no answer (counts as not listed)"));
  CHECK(has_line(plain.value().checks,
                 "rules: rules:5 (bar) greylist, delay 120 s, after continue rules:4"));
  CHECK(has_line(plain.value().checks, "greytrap: 192.0.2.0/24: not trapped"));
  CHECK(plain.value().decision.seconds_left == 120);
  CHECK(greylister.decide(r, greylister.plan(r), {}).seconds_left == 120);

  const Request trap = make_request("192.0.2.8", "a@foo.test", "trap@bar.test");
  const auto before = everything(store);
  auto hit = explainer.explain(trap, clock.now(), {});
  REQUIRE(hit.ok());
  CHECK(same(before, everything(store)));  // the trap is not written
  CHECK(reason_text(hit.value().decision) == "greytrap");
  CHECK(hit.value().decision.rule->rule.to_string() == "rules:3 (trap)");
  CHECK(has_line(hit.value().checks, "greytrap: 192.0.2.0/24: trapped by this request until " +
                                         iso8601(clock.now() + 3600)));
  greylister.decide(trap);
  clock.advance(60);
  auto trapped = explainer.explain(r, clock.now(), {});
  REQUIRE(trapped.ok());
  CHECK(reason_text(trapped.value().decision) == "greytrap (192.0.2.0/24)");
  CHECK(has_line(trapped.value().checks, "greytrap: 192.0.2.0/24: trapped since " +
                                             iso8601(clock.now() - 60) + " until " +
                                             iso8601(clock.now() + 3540)));
  CHECK(reason_text(greylister.decide(r)) == "greytrap (192.0.2.0/24)");

  greylister.set_rules(nullptr);
  auto none = explainer.explain(r, clock.now(), {});
  REQUIRE(none.ok());
  CHECK(has_line(none.value().checks, "rules: none loaded"));
  CHECK(has_line(none.value().checks, "greytrap: no greytrap rule (nothing read)"));
}

}  // TEST_SUITE

}  // namespace greylist
