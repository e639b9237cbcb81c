#include "greylist/greylister.h"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"
#include "support/sample_request.h"
#include "support/last_two_labels.h"

using namespace greylist;
using greylist::testing::FailingStore;
using greylist::testing::FakeClock;
using greylist::testing::sample_request;
using Action = Decision::Action;

namespace {

struct Fixture {
  MemoryStore store;
  FakeClock clock;
  GreylistConfig config;
  Greylister make() { return Greylister(config, store, clock); }
};

// Registered domain = the last two labels; enough for tests.
using testing::LastTwoLabels;

Request named(std::string client, std::string name, std::string sender = "a@foo.test",
              std::string recipient = "b@bar.test") {
  Request r = sample_request(std::move(client), std::move(sender), std::move(recipient));
  r.client_name = std::move(name);
  return r;
}

// A whitelist that matches one recipient, postmaster@bar.test, as the recipient
// whitelist file would.
class PostmasterRecipientWhitelist final : public Whitelist {
 public:
  std::optional<WhitelistMatch> match(const Request& r) const override {
    if (r.recipient == "postmaster@bar.test") {
      return WhitelistMatch{WhitelistMatch::List::kRecipients, "whitelist_recipients:1 postmaster@"};
    }
    return std::nullopt;
  }
};

}  // namespace

TEST_SUITE("greylister") {

TEST_CASE_FIXTURE(Fixture, "new triplet is greylisted, early retry too, retry after the delay passes once with the delay") {
  const Greylister g = make();
  const Decision first = g.decide(sample_request());
  CHECK(first.action == Action::kGreylist);
  CHECK(reason_text(first) == "new");
  CHECK(first.seconds_left == 300);

  clock.advance(100);
  const Decision early = g.decide(sample_request());
  CHECK(early.action == Action::kGreylist);
  CHECK(reason_text(early) == "early-retry (200s missing)");
  CHECK(early.seconds_left == 200);

  clock.advance(200);  // exactly the delay: postgrey passes when diff <= 0
  const Decision pass = g.decide(sample_request());
  CHECK(pass.action == Action::kPass);
  CHECK(reason_text(pass) == "triplet found");
  REQUIRE(pass.delayed_seconds);
  CHECK(*pass.delayed_seconds == 300);

  clock.advance(10);
  const Decision again = g.decide(sample_request());
  CHECK(again.action == Action::kPass);
  CHECK_FALSE(again.delayed_seconds);  // header only on the first pass
}

TEST_CASE_FIXTURE(Fixture, "a retry one second before the delay is still early") {
  const Greylister g = make();
  g.decide(sample_request());
  clock.advance(299);
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kGreylist);
  CHECK(reason_text(d) == "early-retry (1s missing)");
}

TEST_CASE_FIXTURE(Fixture, "a retry in the same second is still reason new") {
  const Greylister g = make();
  g.decide(sample_request());
  CHECK(reason_text(g.decide(sample_request())) == "new");
}

TEST_CASE_FIXTURE(Fixture, "a retry after the retry window starts over as new") {
  const Greylister g = make();
  g.decide(sample_request());
  clock.advance(config.retry_window + 1);
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kGreylist);
  CHECK(reason_text(d) == "new");
  CHECK(d.seconds_left == 300);
  clock.advance(300);
  CHECK(g.decide(sample_request()).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "a retry exactly at the end of the retry window still passes") {
  const Greylister g = make();
  g.decide(sample_request());
  clock.advance(config.retry_window);
  CHECK(g.decide(sample_request()).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "a passed triplet keeps passing beyond the retry window") {
  const Greylister g = make();
  g.decide(sample_request());
  clock.advance(300);
  g.decide(sample_request());
  clock.advance(config.retry_window * 3);
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kPass);
  CHECK_FALSE(d.delayed_seconds);
}

TEST_CASE_FIXTURE(Fixture, "delay 0 is honoured: the first attempt passes") {
  config.delay = 0;
  const Greylister g = make();
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kPass);
  REQUIRE(d.delayed_seconds);
  CHECK(*d.delayed_seconds == 0);
}

TEST_CASE_FIXTURE(Fixture, "the triplet: same /24 shares, other sender or recipient or network does not") {
  const Greylister g = make();
  g.decide(sample_request("203.0.113.7"));
  clock.advance(300);
  CHECK(g.decide(sample_request("203.0.113.200")).action == Action::kPass);  // same /24
  CHECK(reason_text(g.decide(sample_request("203.0.114.7"))) == "new");
  CHECK(reason_text(g.decide(sample_request("203.0.113.7", "other@foo.test"))) == "new");
  CHECK(reason_text(g.decide(sample_request("203.0.113.7", "a@foo.test", "c@bar.test"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "normalized sender and case: VERP bounces and +ext share one triplet") {
  const Greylister g = make();
  g.decide(sample_request("203.0.113.7", "bounce-123@list.test", "B@Bar.Test"));
  clock.advance(300);
  CHECK(g.decide(sample_request("203.0.113.7", "bounce-456@LIST.test", "b@bar.test")).action ==
        Action::kPass);
  CHECK(g.decide(sample_request("203.0.113.7", "bounce-456+x@list.test", "b@bar.test")).action ==
        Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "null sender is a triplet of its own") {
  const Greylister g = make();
  CHECK(reason_text(g.decide(sample_request("203.0.113.7", ""))) == "new");
  clock.advance(300);
  CHECK(g.decide(sample_request("203.0.113.7", "")).action == Action::kPass);
  CHECK(reason_text(g.decide(sample_request("203.0.113.7", "x@foo.test"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "lookup by host keys on the full address") {
  config.lookup_by_host = true;
  const Greylister g = make();
  g.decide(sample_request("203.0.113.7"));
  clock.advance(300);
  CHECK(reason_text(g.decide(sample_request("203.0.113.8"))) == "new");
  CHECK(g.decide(sample_request("203.0.113.7")).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "IPv6 clients share their /64") {
  const Greylister g = make();
  g.decide(sample_request("2001:db8:1:2::1"));
  clock.advance(300);
  CHECK(g.decide(sample_request("2001:db8:1:2:ffff::9")).action == Action::kPass);
  CHECK(reason_text(g.decide(sample_request("2001:db8:1:3::1"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "first-seen in the future is corrected to now") {
  const Greylister g = make();
  const std::string key = g.triplet_key(sample_request());
  REQUIRE(store.put(Table::kTriplets, key, encode_triplet({clock.now() + 5000, clock.now() + 5000, false}), 0).ok());
  const Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kGreylist);
  CHECK(reason_text(d) == "new");
  auto stored = decode_triplet(*store.get(Table::kTriplets, key).value());
  REQUIRE(stored);
  CHECK(stored->first_seen == clock.now());
}

TEST_CASE_FIXTURE(Fixture, "an undecodable entry is greylisted afresh and repaired") {
  const Greylister g = make();
  const std::string key = g.triplet_key(sample_request());
  REQUIRE(store.put(Table::kTriplets, key, "garbage", 0).ok());
  CHECK(reason_text(g.decide(sample_request())) == "new");
  CHECK(decode_triplet(*store.get(Table::kTriplets, key).value()));
}

// Regression (record_fuzzer): these times overflowed "now - first_seen".
TEST_CASE_FIXTURE(Fixture, "an entry with an absurd time is damaged: greylisted afresh, no overflow") {
  const Greylister g = make();
  const std::string key = g.triplet_key(sample_request());
  for (const std::int64_t bad : {INT64_MIN + 1, INT64_MAX - 1}) {
    CAPTURE(bad);
    REQUIRE(store.put(Table::kTriplets, key, encode_triplet({bad, bad, true}), 0).ok());
    REQUIRE(store.put(Table::kClients, g.client_key(sample_request()), encode_client({100, bad}), 0).ok());
    const Decision d = g.decide(sample_request());
    CHECK(d.action == Action::kGreylist);
    CHECK(reason_text(d) == "new");
    auto stored = decode_triplet(*store.get(Table::kTriplets, key).value());
    REQUIRE(stored);
    CHECK(stored->first_seen == clock.now());
  }
}

TEST_CASE_FIXTURE(Fixture, "repeat traffic is read-only: no write for an early retry or a recent pass") {
  const Greylister g = make();
  g.decide(sample_request());
  const std::string key = g.triplet_key(sample_request());
  const std::string after_new = *store.get(Table::kTriplets, key).value();
  clock.advance(100);
  g.decide(sample_request());
  CHECK(*store.get(Table::kTriplets, key).value() == after_new);
  clock.advance(200);
  g.decide(sample_request());
  const std::string after_pass = *store.get(Table::kTriplets, key).value();
  CHECK(after_pass != after_new);
  clock.advance(kLastSeenRefreshSeconds - 1);
  g.decide(sample_request());
  CHECK(*store.get(Table::kTriplets, key).value() == after_pass);
  clock.advance(1);
  g.decide(sample_request());
  const auto refreshed = decode_triplet(*store.get(Table::kTriplets, key).value());
  REQUIRE(refreshed);
  CHECK(refreshed->last_seen == clock.now());
}

TEST_CASE_FIXTURE(Fixture, "auto-whitelisting: after N first passes (one per hour) the client passes at once") {
  config.auto_whitelist_clients = 3;
  const Greylister g = make();
  int newly = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string rcpt = "r" + std::to_string(i) + "@bar.test";
    CHECK(g.decide(sample_request("198.51.100.9", "s@foo.test", rcpt)).action == Action::kGreylist);
    clock.advance(300);
    const Decision pass = g.decide(sample_request("198.51.100.9", "s@foo.test", rcpt));
    CHECK(pass.action == Action::kPass);
    newly += pass.client_newly_whitelisted ? 1 : 0;
    if (i < 2) CHECK_FALSE(pass.client_newly_whitelisted);
    clock.advance(kLastSeenRefreshSeconds);
  }
  CHECK(newly == 1);
  const Decision d = g.decide(sample_request("198.51.100.77", "new@foo.test", "new@bar.test"));
  CHECK(d.action == Action::kWhitelisted);
  CHECK(reason_text(d) == "client AWL");
  // Another network is not whitelisted.
  CHECK(g.decide(sample_request("198.51.101.9", "new@foo.test", "new@bar.test")).action ==
        Action::kGreylist);
}

TEST_CASE_FIXTURE(Fixture, "auto-whitelisting counts at most one pass per hour") {
  config.auto_whitelist_clients = 2;
  const Greylister g = make();
  for (int i = 0; i < 4; ++i) g.decide(sample_request("198.51.100.9", "s@foo.test", "r" + std::to_string(i) + "@x.test"));
  clock.advance(300);
  for (int i = 0; i < 4; ++i) g.decide(sample_request("198.51.100.9", "s@foo.test", "r" + std::to_string(i) + "@x.test"));
  auto client = decode_client(*store.get(Table::kClients, g.client_key(sample_request("198.51.100.9"))).value());
  REQUIRE(client);
  CHECK(client->deliveries == 1);
  CHECK(g.decide(sample_request("198.51.100.9", "z@foo.test", "z@x.test")).action == Action::kGreylist);
}

TEST_CASE_FIXTURE(Fixture, "both auto-whitelists off with 0: no client table writes") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  const Greylister g = make();
  g.decide(sample_request());
  clock.advance(300);
  g.decide(sample_request());
  CHECK(store.count(Table::kClients).value() == 0);
}

TEST_CASE_FIXTURE(Fixture, "static whitelist comes first and names its rule; the store is not touched") {
  Greylister g = make();
  g.set_whitelist(std::make_shared<PostmasterRecipientWhitelist>());
  const Decision d = g.decide(sample_request("203.0.113.7", "a@foo.test", "postmaster@bar.test"));
  CHECK(d.action == Action::kWhitelisted);
  CHECK(reason_text(d) == "recipient whitelist (whitelist_recipients:1 postmaster@)");
  CHECK(store.count(Table::kTriplets).value() == 0);
  g.set_whitelist(nullptr);
  CHECK(reason_text(g.decide(sample_request("203.0.113.7", "a@foo.test", "postmaster@bar.test"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "privacy: keys are keyed hashes, decisions unchanged") {
  config.privacy = true;
  config.privacy_key = "0123456789abcdef0123456789abcdef";
  const Greylister g = make();
  const std::string key = g.triplet_key(sample_request());
  CHECK(key.rfind("t1h:", 0) == 0);
  CHECK(key.size() == 4 + 64);
  CHECK(key.find("foo.test") == std::string::npos);
  g.decide(sample_request());
  clock.advance(300);
  CHECK(g.decide(sample_request()).action == Action::kPass);
  config.privacy_key = "another key, another hash!!!!!!";
  CHECK(make().triplet_key(sample_request()) != key);
}

TEST_CASE_FIXTURE(Fixture, "store failures give kError with the reason, never a throw") {
  FailingStore failing(store);
  Greylister g(config, failing, clock);
  failing.fail_reads = true;
  Decision d = g.decide(sample_request());
  CHECK(d.action == Action::kError);
  CHECK(reason_text(d).find("injected read failure") != std::string::npos);
  failing.fail_reads = false;
  failing.fail_writes = true;
  d = g.decide(sample_request());
  CHECK(d.action == Action::kError);
  CHECK(reason_text(d).find("injected write failure") != std::string::npos);
  failing.fail_writes = false;
  CHECK(reason_text(g.decide(sample_request())) == "new");  // recovers by itself
}

TEST_CASE_FIXTURE(Fixture, "a failing AWL counter write does not change a pass, but is reported") {
  FailingStore failing(store);
  Greylister g(config, failing, clock);
  g.decide(sample_request());
  clock.advance(300);
  // Let the triplet update through, fail only the client update: fail after the first write.
  struct CountingStore final : public Store {
    Store& inner;
    int updates = 0;
    explicit CountingStore(Store& s) : inner(s) {}
    Status update(Table t, std::string_view k, const UpdateFunction& fn) override {
      if (t == Table::kClients) return Status::IoError("clients table down");
      ++updates;
      return inner.update(t, k, fn);
    }
    Result<std::optional<std::string>> get(Table t, std::string_view k) override { return inner.get(t, k); }
    Status put(Table t, std::string_view k, std::string_view v, EpochSeconds e) override { return inner.put(t, k, v, e); }
    Status erase(Table t, std::string_view k) override { return inner.erase(t, k); }
    Result<std::vector<StoreEntry>> scan(Table t, std::string_view a, std::size_t l) override { return inner.scan(t, a, l); }
    Result<std::uint64_t> count(Table t) override { return inner.count(t); }
    const char* name() const override { return "counting"; }
  } counting(store);
  Greylister g2(config, counting, clock);
  const Decision d = g2.decide(sample_request());
  CHECK(d.action == Action::kPass);
  CHECK(d.delayed_seconds);
  CHECK(d.warning.find("clients table down") != std::string::npos);
}

TEST_CASE_FIXTURE(Fixture, "concurrent first attempts of one triplet record one first-seen") {
  const Greylister g = make();
  std::vector<std::thread> threads;
  std::atomic<int> news{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (reason_text(g.decide(sample_request())) == "new") ++news;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(news == 400);  // same second: all "new", and still one entry
  CHECK(store.count(Table::kTriplets).value() == 1);
}

TEST_CASE_FIXTURE(Fixture, "domain AWL: after N distinct senders of a domain passed from a network, the domain passes there at once") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 2;
  const Greylister g = make();
  // The same sender twice counts once.
  for (const char* rcpt : {"r1@bar.test", "r2@bar.test"}) {
    g.decide(sample_request("198.51.100.9", "alice@shop.test", rcpt));
    clock.advance(300);
    CHECK(reason_text(g.decide(sample_request("198.51.100.9", "alice@shop.test", rcpt))) == "triplet found");
  }
  CHECK(reason_text(g.decide(sample_request("198.51.100.9", "carol@shop.test", "r3@bar.test"))) == "new");
  g.decide(sample_request("198.51.100.9", "bob@shop.test", "r1@bar.test"));
  clock.advance(300);
  CHECK(g.decide(sample_request("198.51.100.9", "bob@shop.test", "r1@bar.test")).action == Action::kPass);
  // Two distinct senders: the domain is whitelisted from that network...
  const Decision d = g.decide(sample_request("198.51.100.77", "dave@SHOP.test", "new@bar.test"));
  CHECK(d.action == Action::kWhitelisted);
  CHECK(reason_text(d) == "domain AWL");
  // ...but not from another network, and not another domain.
  CHECK(reason_text(g.decide(sample_request("198.51.101.9", "dave@shop.test", "new@bar.test"))) == "new");
  CHECK(reason_text(g.decide(sample_request("198.51.100.9", "dave@other.test", "new@bar.test"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "domain AWL ignores the null sender") {
  config.auto_whitelist_clients = 0;
  const Greylister g = make();
  CHECK(g.domain_key(sample_request("198.51.100.9", "")).empty());
  for (int i = 0; i < 3; ++i) {
    const std::string rcpt = "r" + std::to_string(i) + "@bar.test";
    g.decide(sample_request("198.51.100.9", "", rcpt));
    clock.advance(300);
    g.decide(sample_request("198.51.100.9", "", rcpt));
  }
  CHECK(reason_text(g.decide(sample_request("198.51.100.9", "", "z@bar.test"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "pool: a retry from another network of the same registered domain is the same triplet") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  LastTwoLabels domains;
  const Greylister g(config, store, clock, &domains);
  CHECK(g.triplet_client(named("40.107.1.1", "mail-a.protection.outlook.com")) == "pool:outlook.com");
  CHECK(g.triplet_client(named("40.107.1.1", "unknown")) == "40.107.1.0");
  CHECK(reason_text(g.decide(named("40.107.1.1", "mail-a.protection.outlook.com"))) == "new");
  clock.advance(300);
  const Decision retry = g.decide(named("52.100.9.9", "mail-b.protection.outlook.com"));
  CHECK(retry.action == Action::kPass);
  CHECK(reason_text(retry) == "pool (outlook.com)");
  REQUIRE(retry.delayed_seconds);
  CHECK(*retry.delayed_seconds == 300);
  // A retry from the same network is an ordinary pass.
  CHECK(reason_text(g.decide(named("40.107.1.1", "mail-a.protection.outlook.com", "z@foo.test"))) == "new");
  clock.advance(300);
  CHECK(reason_text(g.decide(named("40.107.1.1", "mail-a.protection.outlook.com", "z@foo.test"))) ==
        "triplet found");
  // An unverified client under the same addresses is keyed by network.
  CHECK(reason_text(g.decide(named("52.100.9.9", "unknown"))) == "new");
}

TEST_CASE_FIXTURE(Fixture, "pool: a triplet keyed by network before pool-by-domain was on still counts") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  config.delay = 300;
  LastTwoLabels domains;
  const std::string name = "mail-a.protection.outlook.com";
  const Request waiting = named("40.107.1.1", name, "a@foo.test");
  const Request early = named("40.107.1.1", name, "b@foo.test");
  const Request passed = named("40.107.1.1", name, "c@foo.test");
  const EpochSeconds start = clock.now();

  // Entries written while the option was off (or imported from postgrey,
  // which keys by network too).
  config.pool_by_domain = false;
  const Greylister before(config, store, clock, &domains);
  CHECK(reason_text(before.decide(passed)) == "new");
  CHECK(reason_text(before.decide(waiting)) == "new");
  clock.advance(300);
  CHECK(before.decide(passed).action == Action::kPass);
  clock.advance(-100);
  CHECK(reason_text(before.decide(early)) == "new");
  clock.advance(100);  // start + 300

  config.pool_by_domain = true;
  const Greylister g(config, store, clock, &domains);
  REQUIRE(g.triplet_key(waiting) != before.triplet_key(waiting));
  REQUIRE(!store.get(Table::kTriplets, g.triplet_key(waiting)).value());

  // Its delay has passed under the network key: it passes, as that triplet.
  const Decision retry = g.decide(waiting);
  CHECK(retry.action == Action::kPass);
  CHECK(reason_text(retry) == "triplet found");
  REQUIRE(retry.delayed_seconds);
  CHECK(*retry.delayed_seconds == 300);
  // Copied under the pool key (first seen kept); the network entry stays.
  auto copied = store.get(Table::kTriplets, g.triplet_key(waiting)).value();
  REQUIRE(copied);
  const auto record = decode_triplet(*copied);
  REQUIRE(record);
  CHECK(record->first_seen == start);
  CHECK(record->passed);
  CHECK(store.get(Table::kTriplets, before.triplet_key(waiting)).value());

  // A triplet that passed before the switch passes at once.
  CHECK(g.decide(passed).action == Action::kPass);
  CHECK(reason_text(g.decide(passed)) == "triplet found");
  // One still within its delay is an early retry, not new.
  const Decision too_soon = g.decide(early);
  CHECK(too_soon.action == Action::kGreylist);
  CHECK(reason_text(too_soon) == "early-retry (200s missing)");
  // Unknown under both keys: new, written under the pool key only.
  const Request fresh = named("40.107.1.1", name, "d@foo.test");
  CHECK(reason_text(g.decide(fresh)) == "new");
  CHECK(store.get(Table::kTriplets, g.triplet_key(fresh)).value());
  CHECK(!store.get(Table::kTriplets, before.triplet_key(fresh)).value());
}

TEST_CASE_FIXTURE(Fixture, "pool: the network-keyed fallback also works with privacy keys") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  config.delay = 300;
  config.privacy = true;
  config.privacy_key = "secret";
  LastTwoLabels domains;
  const Request r = named("40.107.1.1", "mail-a.protection.outlook.com");
  config.pool_by_domain = false;
  const Greylister before(config, store, clock, &domains);
  CHECK(reason_text(before.decide(r)) == "new");
  clock.advance(300);
  config.pool_by_domain = true;
  const Greylister g(config, store, clock, &domains);
  CHECK(g.decide(r).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "pool-by-domain off keys named clients by network") {
  config.pool_by_domain = false;
  LastTwoLabels domains;
  const Greylister g(config, store, clock, &domains);
  CHECK(g.triplet_client(named("40.107.1.1", "mail-a.protection.outlook.com")) == "40.107.1.0");
}

}  // TEST_SUITE

TEST_SUITE("greylister_client_kinds") {

TEST_CASE_FIXTURE(Fixture, "dynamic-looking names are keyed by network, not pooled, unless --pool-dynamic-names") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  config.dynamic_delay = 0;
  LastTwoLabels domains;
  const Greylister g(config, store, clock, &domains);
  const Request bot_a = named("73.45.12.9", "c-73-45-12-9.hsd1.isp.test");
  const Request bot_b = named("98.1.2.3", "c-98-1-2-3.hsd1.isp.test");
  CHECK(g.triplet_client(bot_a) == "73.45.12.0");
  CHECK(g.triplet_client(named("98.1.2.3", "mail2.isp.test")) == "pool:isp.test");
  CHECK(reason_text(g.decide(bot_a)) == "new");
  clock.advance(3600);
  // another bot of the same ISP, the same envelope, an hour later: new
  CHECK(reason_text(g.decide(bot_b)) == "new");

  config.pool_dynamic_names = true;
  const Greylister pooled(config, store, clock, &domains);
  CHECK(pooled.triplet_client(bot_a) == "pool:isp.test");
  const Request pooled_a = named("73.45.12.9", "c-73-45-12-9.hsd1.isp.test", "p@foo.test");
  const Request pooled_b = named("98.1.2.3", "c-98-1-2-3.hsd1.isp.test", "p@foo.test");
  CHECK(reason_text(pooled.decide(pooled_a)) == "new");
  clock.advance(3600);
  CHECK(reason_text(pooled.decide(pooled_b)) == "pool (isp.test)");
}

TEST_CASE_FIXTURE(Fixture, "client AWL key: adaptive keys clients without a name or with a dynamic one on the address") {
  config.auto_whitelist_clients = 1;
  config.auto_whitelist_domains = 0;
  config.dynamic_delay = 0;
  LastTwoLabels domains;
  const auto pass_once = [&](const Greylister& g, const Request& r) {
    CHECK(g.decide(r).action == Action::kGreylist);
    clock.advance(300);
    CHECK(g.decide(r).action == Action::kPass);
    clock.advance(3600);
  };
  const Greylister adaptive(config, store, clock, &domains);
  CHECK(adaptive.client_key(named("192.0.2.5", "unknown")) == encode_client_key("192.0.2.5"));
  CHECK(adaptive.client_key(named("192.0.2.5", "dsl-192-0-2-5.isp.test")) ==
        encode_client_key("192.0.2.5"));
  CHECK(adaptive.client_key(named("192.0.2.5", "mail.foo.test")) == encode_client_key("192.0.2.0"));
  CHECK(adaptive.client_key(named("2001:db8::5", "unknown")) == encode_client_key("2001:db8::5"));

  // a client without a name earns the whitelist for its address only
  pass_once(adaptive, named("192.0.2.5", "unknown"));
  CHECK(reason_text(adaptive.decide(named("192.0.2.5", "unknown", "x@foo.test"))) == "client AWL");
  CHECK(reason_text(adaptive.decide(named("192.0.2.6", "unknown", "x@foo.test"))) == "new");
  // a server earns it for its network
  pass_once(adaptive, named("198.51.100.5", "mail.foo.test"));
  CHECK(reason_text(adaptive.decide(named("198.51.100.6", "mx2.foo.test", "y@foo.test"))) ==
        "client AWL");

  config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
  const Greylister network(config, store, clock, &domains);
  CHECK(network.client_key(named("192.0.2.5", "unknown")) == encode_client_key("192.0.2.0"));
  config.client_awl_key = GreylistConfig::ClientAwlKey::kHost;
  const Greylister host(config, store, clock, &domains);
  CHECK(host.client_key(named("198.51.100.5", "mail.foo.test")) ==
        encode_client_key("198.51.100.5"));
}

TEST_CASE_FIXTURE(Fixture, "dynamic delay: clients without a name or with a dynamic one wait longer") {
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  config.dynamic_delay = 2400;
  LastTwoLabels domains;
  const Greylister g(config, store, clock, &domains);
  const Request server = named("198.51.100.5", "mail.foo.test");
  const Request nameless = named("192.0.2.5", "unknown");
  const Request dynamic = named("73.45.12.9", "c-73-45-12-9.hsd1.isp.test");
  CHECK(g.decide(server).seconds_left == 300);
  CHECK(g.decide(nameless).seconds_left == 2400);
  CHECK(g.decide(dynamic).seconds_left == 2400);
  clock.advance(300);
  CHECK(g.decide(server).action == Action::kPass);
  CHECK(reason_text(g.decide(nameless)) == "early-retry (2100s missing)");
  clock.advance(2100);
  const Decision passed = g.decide(dynamic);
  CHECK(passed.action == Action::kPass);
  REQUIRE(passed.delayed_seconds);
  CHECK(*passed.delayed_seconds == 2400);

  // 0 turns it off; a --delay longer than --dynamic-delay wins
  config.dynamic_delay = 0;
  CHECK(Greylister(config, store, clock, &domains)
            .decide(named("203.0.113.9", "unknown", "off@foo.test")).seconds_left == 300);
  config.dynamic_delay = 600;
  config.delay = 900;
  CHECK(Greylister(config, store, clock, &domains)
            .decide(named("203.0.113.9", "unknown", "longer@foo.test")).seconds_left == 900);
}

}  // TEST_SUITE
