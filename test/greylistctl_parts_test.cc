// greylistctl's parts in-process: reading stored keys back, JSON and text
// output, and DecisionExplainer, which must predict Greylister::decide()
// exactly while writing nothing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"
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
      return WhitelistMatch{"recipient whitelist", "whitelist_recipients:1 postmaster@"};
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

  // Hostile or foreign keys: rejected, never read past their end.
  for (const std::string& bad : std::vector<std::string>{"", "t1:", "t1:5:abc", "t1:3:abc3:def", "t1:3:abc3:def3:ghiX",
                                "t1:-1:a", "t1:99999999999:a", "t1::a0:0:", "t2:1:a1:b1:c",
                                "c1:", "d1:1:a", "t1h:", "t1h:XYZ", "watchdog-probe",
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

TEST_CASE("DecisionExplainer predicts decide() at every stage, and writes nothing") {
  MemoryStore store;
  testing::FakeClock clock;
  GreylistConfig config;
  config.delay = 300;
  config.auto_whitelist_clients = 2;
  config.auto_whitelist_domains = 2;
  Greylister greylister(config, store, clock);
  auto whitelist = std::make_shared<ListWhitelist>();
  greylister.set_whitelist(whitelist);
  const DecisionExplainer explainer(greylister, store, whitelist.get());

  // Explains, checks that nothing changed, then lets decide() act and
  // compares.
  const auto step = [&](const Request& request, const char* expected_reason) {
    const auto before = everything(store);
    auto explained = explainer.explain(request, clock.now());
    REQUIRE(explained.ok());
    CHECK(same(before, everything(store)));
    const Decision decided = greylister.decide(request);
    CHECK(explained.value().action == decided.action);
    CHECK(explained.value().reason == decided.reason);
    CHECK(explained.value().reason == expected_reason);
    if (decided.action == Decision::Action::kGreylist) {
      CHECK(explained.value().seconds_left == decided.seconds_left);
    }
    if (decided.delayed_seconds) CHECK(explained.value().delayed_seconds == *decided.delayed_seconds);
  };

  const Request a = make_request("192.0.2.7", "a@foo.test", "r@bar.test");
  step(a, "new");
  clock.advance(100);
  step(a, "early-retry (200s missing)");
  clock.advance(250);
  step(a, "triplet found");  // first pass, with the header's delay
  clock.advance(10);
  step(a, "triplet found");  // passed
  step(make_request("192.0.2.8", "x@y.test", "postmaster@bar.test"),
       "recipient whitelist (whitelist_recipients:1 postmaster@)");

  // A second sender of foo.test passing from the network makes the domain
  // whitelisted (2 senders); a second counted pass the client too.
  const Request b = make_request("192.0.2.9", "b@foo.test", "r@bar.test");
  step(b, "new");
  clock.advance(3700);
  step(b, "triplet found");
  step(make_request("192.0.2.10", "c@foo.test", "other@bar.test"), "client AWL");
  step(make_request("198.51.100.1", "c@other.test", "r@bar.test"), "new");

  // A retry after the retry window starts over.
  const Request late = make_request("203.0.113.1", "l@late.test", "r@bar.test");
  step(late, "new");
  clock.advance(config.retry_window + 10);
  auto explained = explainer.explain(late, clock.now());
  REQUIRE(explained.ok());
  CHECK(explained.value().action == Decision::Action::kGreylist);
  CHECK(explained.value().reason == "new (retry window expired)");
  CHECK(greylister.decide(late).reason == "new");
}

}  // TEST_SUITE

}  // namespace greylist
