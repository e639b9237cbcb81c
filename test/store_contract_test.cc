// The Store contract (include/greylist/store.h), run against every store.
//
// Each check is a TEST_CASE_TEMPLATE over the fixtures below; a new store
// joins by adding a fixture to kStores. Every fixture starts empty (BdbStore
// in a fresh temporary directory, removed afterwards; RedisStore on a
// redis-server this binary starts on loopback, under a key prefix of its own).
#include <doctest/doctest.h>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "greylist/expiry_sweeper.h"
#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "greylist/store.h"
#include "store/bdb_store.h"
#include "store/memory_store.h"
#include "store/redis_store.h"
#include "support/fake_clock.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"

namespace greylist {
namespace {

using namespace std::string_literals;
using Verdict = UpdateOutcome::Verdict;

struct MemoryFixture {
  MemoryStore memory;
  Store& store() { return memory; }
};

struct BdbFixture {
  testing::TempDir dir{"store-contract"};
  std::unique_ptr<BdbStore> bdb;
  BdbFixture() {
    BdbOptions options;
    options.directory = dir.path();
    options.cache_bytes = 1024 * 1024;
    auto opened = BdbStore::open(options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    bdb = std::move(opened).value();
  }
  Store& store() { return *bdb; }
};

// One redis-server for the whole binary (started by the first fixture,
// killed at exit); each fixture a fresh prefix, so it starts empty.
struct RedisFixture {
  std::unique_ptr<RedisStore> redis;
  RedisFixture() {
    static testing::RedisServer server;
    static std::atomic<int> fixtures{0};
    auto url = RedisUrl::parse(server.url());
    REQUIRE_MESSAGE(url.ok(), url.status().message());
    RedisOptions options;
    options.url = url.value();
    options.prefix = "contract-" + std::to_string(fixtures++) + ":";
    // Generous: the concurrency checks run 8 writers on one key on a busy CI host.
    options.timeout = std::chrono::milliseconds(5000);
    auto opened = RedisStore::open(options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    redis = std::move(opened).value();
  }
  Store& store() { return *redis; }
};

#define STORE_FIXTURES MemoryFixture, BdbFixture, RedisFixture

std::optional<std::string> must_get(Store& store, Table table, std::string_view key) {
  auto got = store.get(table, key);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  return got.value();
}

std::vector<StoreEntry> must_scan(Store& store, Table table, std::string_view after,
                                  std::size_t limit) {
  auto got = store.scan(table, after, limit);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  return got.value();
}

std::uint64_t must_count(Store& store, Table table) {
  auto got = store.count(table);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  return got.value();
}

void must_put(Store& store, Table table, std::string_view key, std::string_view value) {
  const Status s = store.put(table, key, value, 0);
  REQUIRE_MESSAGE(s.ok(), s.message());
}

// An update function that adds one to a decimal counter (absent = 0).
UpdateOutcome increment(std::optional<std::string>& value) {
  const long current = value ? std::stol(*value) : 0;
  value = std::to_string(current + 1);
  return {Verdict::kWrite, 0};
}

std::vector<std::string> keys_of(const std::vector<StoreEntry>& entries) {
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key);
  return keys;
}

TEST_SUITE("store_contract") {

TEST_CASE_TEMPLATE("get of an absent key is nullopt, in both tables", F, STORE_FIXTURES) {
  F f;
  CHECK_FALSE(must_get(f.store(), Table::kTriplets, "nothing-here").has_value());
  CHECK_FALSE(must_get(f.store(), Table::kClients, "nothing-here").has_value());
  CHECK_FALSE(must_get(f.store(), Table::kTriplets, "").has_value());
}

TEST_CASE_TEMPLATE("put/get round trip keeps binary bytes exactly", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  const std::string key = "k\0\xff\x01z"s;
  const std::string value = "\0\0v\xff\xfe\0"s;
  REQUIRE(key.size() == 5);
  REQUIRE(value.size() == 6);
  must_put(s, Table::kTriplets, key, value);
  CHECK(must_get(s, Table::kTriplets, key) == value);
  // A key that differs only after the NUL is another key.
  CHECK_FALSE(must_get(s, Table::kTriplets, "k\0\xff\x01y"s).has_value());
  CHECK_FALSE(must_get(s, Table::kTriplets, "k"s).has_value());

  // Overwriting with a shorter value leaves nothing of the longer one.
  must_put(s, Table::kTriplets, key, "\xff"s);
  CHECK(must_get(s, Table::kTriplets, key) == "\xff"s);

  // An empty value is a present value, not an absent one.
  must_put(s, Table::kTriplets, "empty", "");
  auto empty = must_get(s, Table::kTriplets, "empty");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

TEST_CASE_TEMPLATE("a large value (64 KiB) round trips through put, get, update and scan", F,
                   STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  std::mt19937 random(42);
  std::string big(64 * 1024, '\0');
  for (char& c : big) c = static_cast<char>(random() & 0xff);
  must_put(s, Table::kClients, "big", big);
  CHECK(must_get(s, Table::kClients, "big") == big);

  std::string seen;
  const Status st = s.update(Table::kClients, "big", [&](std::optional<std::string>& v) {
    seen = v.value_or("");
    v->append("tail");
    return UpdateOutcome{Verdict::kWrite, 0};
  });
  REQUIRE_MESSAGE(st.ok(), st.message());
  CHECK(seen == big);
  auto entries = must_scan(s, Table::kClients, "", 10);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].value == big + "tail");
}

TEST_CASE_TEMPLATE("the two tables are independent", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  must_put(s, Table::kTriplets, "same-key", "triplet");
  CHECK_FALSE(must_get(s, Table::kClients, "same-key").has_value());
  must_put(s, Table::kClients, "same-key", "client");
  CHECK(must_get(s, Table::kTriplets, "same-key") == "triplet");
  CHECK(must_get(s, Table::kClients, "same-key") == "client");
  CHECK(must_count(s, Table::kTriplets) == 1);
  CHECK(must_count(s, Table::kClients) == 1);

  REQUIRE(s.erase(Table::kTriplets, "same-key").ok());
  CHECK_FALSE(must_get(s, Table::kTriplets, "same-key").has_value());
  CHECK(must_get(s, Table::kClients, "same-key") == "client");
  CHECK(must_scan(s, Table::kTriplets, "", 10).empty());
  CHECK(must_scan(s, Table::kClients, "", 10).size() == 1);
}

TEST_CASE_TEMPLATE("update applies kKeep, kWrite and kErase", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();

  SUBCASE("kWrite on an absent key creates it") {
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v = "created";
      return UpdateOutcome{Verdict::kWrite, 123};
    });
    REQUIRE(st.ok());
    CHECK(must_get(s, Table::kTriplets, "k") == "created");
  }
  SUBCASE("kKeep on an absent key leaves it absent, even if fn filled the value") {
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v = "not stored";
      return UpdateOutcome{Verdict::kKeep, 0};
    });
    REQUIRE(st.ok());
    CHECK_FALSE(must_get(s, Table::kTriplets, "k").has_value());
  }
  SUBCASE("kKeep on a present key leaves the old value, even if fn changed it") {
    must_put(s, Table::kTriplets, "k", "old");
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v = "changed";
      return UpdateOutcome{Verdict::kKeep, 0};
    });
    REQUIRE(st.ok());
    CHECK(must_get(s, Table::kTriplets, "k") == "old");
  }
  SUBCASE("kWrite on a present key replaces it") {
    must_put(s, Table::kTriplets, "k", "a much longer old value");
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v = "new";
      return UpdateOutcome{Verdict::kWrite, 0};
    });
    REQUIRE(st.ok());
    CHECK(must_get(s, Table::kTriplets, "k") == "new");
    CHECK(must_count(s, Table::kTriplets) == 1);
  }
  SUBCASE("kErase on a present key removes only it") {
    must_put(s, Table::kTriplets, "k", "v");
    must_put(s, Table::kTriplets, "k2", "v2");
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>&) {
      return UpdateOutcome{Verdict::kErase, 0};
    });
    REQUIRE(st.ok());
    CHECK_FALSE(must_get(s, Table::kTriplets, "k").has_value());
    CHECK(must_get(s, Table::kTriplets, "k2") == "v2");
  }
  SUBCASE("kErase on an absent key is ok and changes nothing") {
    must_put(s, Table::kTriplets, "other", "v");
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>&) {
      return UpdateOutcome{Verdict::kErase, 0};
    });
    CHECK(st.ok());
    CHECK(must_count(s, Table::kTriplets) == 1);
  }
  SUBCASE("kWrite of an absent value is an error and changes nothing") {
    must_put(s, Table::kTriplets, "k", "v");
    const Status st = s.update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v.reset();
      return UpdateOutcome{Verdict::kWrite, 0};
    });
    CHECK_FALSE(st.ok());
    CHECK(must_get(s, Table::kTriplets, "k") == "v");
  }
}

TEST_CASE_TEMPLATE("update sees the current value, and absent as nullopt", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  std::vector<std::optional<std::string>> seen;
  auto record_and_append = [&](std::optional<std::string>& v) {
    seen.push_back(v);
    v = v.value_or("") + "x";
    return UpdateOutcome{Verdict::kWrite, 0};
  };
  REQUIRE(s.update(Table::kClients, "k", record_and_append).ok());
  must_put(s, Table::kClients, "k", "put\0"s);
  REQUIRE(s.update(Table::kClients, "k", record_and_append).ok());
  REQUIRE(s.update(Table::kClients, "k", record_and_append).ok());
  REQUIRE(seen.size() == 3);
  CHECK_FALSE(seen[0].has_value());
  CHECK(seen[1] == "put\0"s);
  CHECK(seen[2] == "put\0x"s);
  CHECK(must_get(s, Table::kClients, "k") == "put\0xx"s);
  // The other table saw none of it.
  CHECK_FALSE(must_get(s, Table::kTriplets, "k").has_value());
}

TEST_CASE_TEMPLATE("erase of an absent key is ok", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  CHECK(s.erase(Table::kTriplets, "never-there").ok());
  must_put(s, Table::kTriplets, "k", "v");
  CHECK(s.erase(Table::kTriplets, "k").ok());
  CHECK(s.erase(Table::kTriplets, "k").ok());
  CHECK_FALSE(must_get(s, Table::kTriplets, "k").has_value());
  CHECK(must_count(s, Table::kTriplets) == 0);
}

TEST_CASE_TEMPLATE("scan: byte order, exclusive after, limit, end", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  // Sorted as unsigned bytes: a signed-char comparison would put \xff first.
  const std::vector<std::string> sorted = {"a"s, "a\0"s, "a\x01"s, "ab"s, "b"s, "\x7f"s, "\xff"s,
                                           "\xff\0"s};
  // Inserted out of order.
  for (std::size_t i : {5u, 0u, 7u, 2u, 4u, 1u, 6u, 3u}) {
    must_put(s, Table::kTriplets, sorted[i], "value-" + std::to_string(i));
  }
  must_put(s, Table::kClients, "a-client", "not in triplets");

  SUBCASE("empty after scans from the start, in byte order, with values") {
    auto all = must_scan(s, Table::kTriplets, "", 100);
    CHECK(keys_of(all) == sorted);
    for (std::size_t i = 0; i < all.size() && i < sorted.size(); ++i) {
      CHECK(all[i].value == "value-" + std::to_string(i));
    }
  }
  SUBCASE("after is exclusive when present") {
    auto rest = must_scan(s, Table::kTriplets, "ab", 100);
    CHECK(keys_of(rest) == std::vector<std::string>(sorted.begin() + 4, sorted.end()));
    // A key that only differs by a trailing NUL is not the same key.
    auto after_a = must_scan(s, Table::kTriplets, "a", 1);
    CHECK(keys_of(after_a) == std::vector<std::string>{"a\0"s});
  }
  SUBCASE("after need not be a stored key") {
    auto rest = must_scan(s, Table::kTriplets, "a\x05"s, 100);
    CHECK(keys_of(rest) == std::vector<std::string>(sorted.begin() + 3, sorted.end()));
  }
  SUBCASE("limit is respected") {
    CHECK(must_scan(s, Table::kTriplets, "", 3).size() == 3);
    CHECK(keys_of(must_scan(s, Table::kTriplets, "", 1)) == std::vector<std::string>{"a"});
    CHECK(must_scan(s, Table::kTriplets, "", 0).empty());
  }
  SUBCASE("paging with the last key returned visits every key once and detects the end") {
    std::vector<std::string> visited;
    std::string after;
    int pages = 0;
    for (; pages < 20; ++pages) {
      auto page = must_scan(s, Table::kTriplets, after, 3);
      for (auto& e : page) visited.push_back(e.key);
      if (page.size() < 3) break;
      after = page.back().key;
    }
    CHECK(visited == sorted);
    CHECK(pages == 2);  // 3 + 3 + 2: the short third page is the end
  }
  SUBCASE("after the last key (or beyond every key) is the end") {
    CHECK(must_scan(s, Table::kTriplets, "\xff\0"s, 10).empty());
    CHECK(must_scan(s, Table::kTriplets, "\xff\xff"s, 10).empty());
  }
  SUBCASE("an empty table scans empty") {
    REQUIRE(s.erase(Table::kClients, "a-client").ok());
    CHECK(must_scan(s, Table::kClients, "", 10).empty());
  }
}

TEST_CASE_TEMPLATE("count follows puts, overwrites and erases, per table", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  CHECK(must_count(s, Table::kTriplets) == 0);
  for (int i = 0; i < 50; ++i) must_put(s, Table::kTriplets, "k" + std::to_string(i), "v");
  CHECK(must_count(s, Table::kTriplets) == 50);
  CHECK(must_count(s, Table::kClients) == 0);
  must_put(s, Table::kTriplets, "k7", "overwritten");
  CHECK(must_count(s, Table::kTriplets) == 50);
  for (int i = 0; i < 50; i += 2) REQUIRE(s.erase(Table::kTriplets, "k" + std::to_string(i)).ok());
  CHECK(must_count(s, Table::kTriplets) == 25);
  REQUIRE(s.update(Table::kTriplets, "k1", [](std::optional<std::string>&) {
    return UpdateOutcome{Verdict::kErase, 0};
  }).ok());
  CHECK(must_count(s, Table::kTriplets) == 24);
}

TEST_CASE_TEMPLATE("concurrent updates of one key lose no increment", F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  constexpr int kThreads = 8;
  constexpr int kIncrements = 500;
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        const Status st = s.update(Table::kClients, "counter", increment);
        if (!st.ok()) {
          std::lock_guard lock(failure_mutex);
          if (failures++ == 0) first_failure = st.message();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_MESSAGE(failures.load() == 0, first_failure);
  CHECK(must_get(s, Table::kClients, "counter") == std::to_string(kThreads * kIncrements));
}

TEST_CASE_TEMPLATE("concurrent updates of distinct keys, with readers alongside", F,
                   STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  constexpr int kThreads = 8;
  constexpr int kKeys = 100;
  constexpr int kRounds = 3;
  std::atomic<int> failures{0};
  std::atomic<bool> writers_done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        for (int k = 0; k < kKeys; ++k) {
          const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
          if (!s.update(Table::kTriplets, key, increment).ok()) ++failures;
        }
      }
    });
  }
  // A reader scanning and counting while the writers work: every scan must
  // succeed and come back in strictly increasing key order. It scans at
  // least once: fast writers (a MemoryStore) may all be done before the
  // reader thread runs at all, as under the sanitizers.
  std::atomic<int> scans{0};
  std::thread reader([&] {
    do {
      auto page = s.scan(Table::kTriplets, "", 50);
      if (!page.ok() || !s.count(Table::kTriplets).ok()) {
        ++failures;
        continue;
      }
      for (std::size_t i = 1; i < page.value().size(); ++i) {
        if (!(page.value()[i - 1].key < page.value()[i].key)) ++failures;
      }
      ++scans;
    } while (!writers_done.load() && scans.load() < 10000);
  });
  for (auto& th : threads) th.join();
  writers_done = true;
  reader.join();

  CHECK(failures.load() == 0);
  CHECK(scans.load() > 0);
  CHECK(must_count(s, Table::kTriplets) == kThreads * kKeys);
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeys; ++k) {
      const std::string key = "t" + std::to_string(t) + "-" + std::to_string(k);
      CHECK(must_get(s, Table::kTriplets, key) == std::to_string(kRounds));
    }
  }
}

// Greytraps live in the clients table like the auto-whitelist entries: the
// same bytes in every store, so every store holds them (issue 14).
TEST_CASE_TEMPLATE("greytraps: one Greylister's trap holds for another; the sweep forgets it after the hold",
                   F, STORE_FIXTURES) {
  F f;
  Store& s = f.store();
  // Today, so Redis's TTL (from the trap's end) is the hold itself.
  testing::FakeClock clock(std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
  GreylistConfig config;
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  auto rules = RuleSet::parse("racl greytrap rcpt trap@bar.test hold 1h\n", "rules");
  REQUIRE(rules.ok());
  Greylister first(config, s, clock);
  Greylister second(config, s, clock);
  first.set_rules(rules.value());
  second.set_rules(rules.value());
  Request r;
  r.client_address = "192.0.2.7";
  r.client_name = "mail.foo.test";
  r.sender = "a@foo.test";
  r.recipient = "trap@bar.test";
  CHECK(first.decide(r).reason == Decision::Reason::kGreytrap);
  const auto stored = must_get(s, Table::kClients, first.keys().greytrap_key(r));
  REQUIRE(stored);
  const auto trap = decode_trap(*stored);
  REQUIRE(trap);
  CHECK(trap->hold_until == clock.now() + 3600);

  r.client_address = "192.0.2.200";
  r.recipient = "b@bar.test";
  clock.advance(600);
  const Decision later = second.decide(r);
  CHECK(reason_text(later) == "greytrap (192.0.2.0/24)");
  CHECK(later.seconds_left == 3000);
  CHECK(must_count(s, Table::kTriplets) == 0);

  clock.advance(3000);
  ExpirySweeper sweeper(config, s, clock);
  std::size_t erased = 0;
  for (int i = 0; i < 4; ++i) {
    auto step = sweeper.step(100);
    REQUIRE(step.ok());
    erased += step.value().erased;
  }
  CHECK(erased == 1);
  CHECK(must_count(s, Table::kClients) == 0);
  CHECK(second.decide(r).reason == Decision::Reason::kNew);
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
