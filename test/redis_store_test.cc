// RedisStore beyond the store contract (store_contract_test.cc runs that):
// the read-then-compare-and-set protocol of update() (command counts, a
// writer in between, erase, a flushed script, the index kept consistent),
// TTLs from expires_at, the key layout, expired entries in scans and
// counts, two stores on one server (and a greytrap shared by two
// daemons), a killed, paused and restarted server,
// logins and databases, a busy pool. Each test starts its own redis-server
// on loopback (test/support/redis_server.h).
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "greylist/greylister.h"
#include "store/redis_store.h"
#include "support/fake_clock.h"
#include "support/redis_server.h"

namespace greylist {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using testing::RedisClient;
using testing::RedisServer;
using testing::RedisValue;
using testing::redis_command_calls;
using Verdict = UpdateOutcome::Verdict;
using SteadyClock = std::chrono::steady_clock;

EpochSeconds now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

RedisOptions options_for(const std::string& url, std::string prefix = "test:",
                         std::chrono::milliseconds timeout = 1000ms) {
  auto parsed = RedisUrl::parse(url);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  RedisOptions options;
  options.url = parsed.value();
  options.prefix = std::move(prefix);
  options.timeout = timeout;
  return options;
}

std::unique_ptr<RedisStore> open_store(const RedisOptions& options) {
  auto opened = RedisStore::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  return std::move(opened).value();
}

long long ttl_of(RedisClient& client, const std::string& key) {
  const auto reply = client.command({"TTL", key});
  REQUIRE(reply);
  REQUIRE(reply->type == RedisValue::Type::kInteger);
  return reply->integer;
}

bool exists(RedisClient& client, const std::string& key) {
  const auto reply = client.command({"EXISTS", key});
  REQUIRE(reply);
  return reply->integer == 1;
}

UpdateOutcome increment(std::optional<std::string>& value) {
  const long current = value ? std::stol(*value) : 0;
  value = std::to_string(current + 1);
  return {Verdict::kWrite, 0};
}

// Runs `call` and returns how long it took.
template <typename Call>
SteadyClock::duration timed(Call&& call) {
  const auto start = SteadyClock::now();
  call();
  return SteadyClock::now() - start;
}

TEST_SUITE("redis_store") {

TEST_CASE("open refuses bad options") {
  RedisOptions options = options_for("redis://127.0.0.1:1");
  options.prefix = "";
  CHECK(RedisStore::open(options).status().code() == Status::Code::kInvalidArgument);
  options = options_for("redis://127.0.0.1:1");
  options.timeout = 0ms;
  CHECK_FALSE(RedisStore::open(options).ok());
  options = options_for("redis://127.0.0.1:1");
  options.max_connections = 0;
  CHECK_FALSE(RedisStore::open(options).ok());
  options = options_for("unix:/run/redis.sock");
  options.sentinels.push_back({"127.0.0.1", 26379});
  CHECK_FALSE(RedisStore::open(options).ok());
  options = options_for("redis://127.0.0.1:1");
  options.sentinels.push_back({"127.0.0.1", 26379});
  options.master_name = "";
  CHECK_FALSE(RedisStore::open(options).ok());
}

TEST_CASE("keys: prefix, table tag and the key bytes; one index per table") {
  RedisServer server;
  auto store = open_store(options_for(server.url(), "site-a:"));
  const std::string key = "k\0\xff"s;
  REQUIRE(store->put(Table::kTriplets, key, "v1", 0).ok());
  REQUIRE(store->put(Table::kClients, key, "v2", 0).ok());
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  CHECK(raw.command({"GET", "site-a:t:" + key})->text == "v1");
  CHECK(raw.command({"GET", "site-a:c:" + key})->text == "v2");
  CHECK(raw.command({"ZSCORE", "site-a:i:t", key})->text == "0");
  CHECK(raw.command({"ZSCORE", "site-a:i:c", key})->text == "0");
  CHECK(raw.command({"DBSIZE"})->integer == 4);

  // Another prefix is another store.
  auto other = open_store(options_for(server.url(), "site-b:"));
  CHECK_FALSE(other->get(Table::kTriplets, key).value().has_value());
  CHECK(other->count(Table::kTriplets).value() == 0);
  CHECK(other->scan(Table::kTriplets, "", 10).value().empty());

  // Erasing removes the entry and its index member.
  REQUIRE(store->erase(Table::kTriplets, key).ok());
  CHECK_FALSE(exists(raw, "site-a:t:" + key));
  CHECK(raw.command({"ZSCORE", "site-a:i:t", key})->type == RedisValue::Type::kNil);
}

TEST_CASE("a greytrap written by one daemon's store holds for another's; its TTL is the hold") {
  RedisServer server;
  auto store_a = open_store(options_for(server.url(), "mx:"));
  auto store_b = open_store(options_for(server.url(), "mx:"));
  testing::FakeClock clock(now_seconds());
  GreylistConfig config;
  auto rules = RuleSet::parse("racl greytrap rcpt trap@bar.test hold 2h\n", "rules");
  REQUIRE(rules.ok());
  Greylister mx1(config, *store_a, clock);
  Greylister mx2(config, *store_b, clock);
  mx1.set_rules(rules.value());
  mx2.set_rules(rules.value());
  Request r;
  r.client_address = "198.51.100.7";
  r.client_name = "unknown";
  r.sender = "a@foo.test";
  r.recipient = "trap@bar.test";
  REQUIRE(mx1.decide(r).reason == Decision::Reason::kGreytrap);
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  const long long ttl = ttl_of(raw, "mx:c:" + mx1.keys().greytrap_key(r));
  CHECK(ttl > 7200 - 10);
  CHECK(ttl <= 7200);
  r.recipient = "b@bar.test";
  clock.advance(1000);
  const Decision d = mx2.decide(r);
  CHECK(d.reason == Decision::Reason::kGreytrap);
  CHECK(d.seconds_left == 6200);
}

TEST_CASE("the TTL comes from expires_at: put, update kWrite, kKeep, no expiry, past expiry") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  const EpochSeconds now = now_seconds();

  REQUIRE(store->put(Table::kTriplets, "put", "v", now + 3600).ok());
  long long ttl = ttl_of(raw, "test:t:put");
  CHECK(ttl > 3590);
  CHECK(ttl <= 3600);
  // EXAT: the absolute time, to the second.
  const auto expiretime = raw.command({"EXPIRETIME", "test:t:put"});
  REQUIRE(expiretime);
  CHECK(expiretime->integer == now + 3600);

  REQUIRE(store->update(Table::kClients, "upd", [&](std::optional<std::string>& v) {
    v = "x";
    return UpdateOutcome{Verdict::kWrite, now + 2 * 86400};
  }).ok());
  ttl = ttl_of(raw, "test:c:upd");
  CHECK(ttl > 2 * 86400 - 10);
  CHECK(ttl <= 2 * 86400);

  // A rewrite with a later expiry moves the TTL; kKeep leaves it alone.
  REQUIRE(store->update(Table::kClients, "upd", [&](std::optional<std::string>& v) {
    v = "y";
    return UpdateOutcome{Verdict::kWrite, now + 35 * 86400};
  }).ok());
  CHECK(ttl_of(raw, "test:c:upd") > 35 * 86400 - 10);
  REQUIRE(store->update(Table::kClients, "upd", [&](std::optional<std::string>& v) {
    v = "ignored";
    return UpdateOutcome{Verdict::kKeep, now + 100};
  }).ok());
  CHECK(ttl_of(raw, "test:c:upd") > 35 * 86400 - 10);
  CHECK(store->get(Table::kClients, "upd").value() == "y");

  // 0: no TTL at all (-1), also replacing an earlier one.
  REQUIRE(store->put(Table::kTriplets, "put", "v", 0).ok());
  CHECK(ttl_of(raw, "test:t:put") == -1);

  // An expiry already past, or too close, is raised to 60 s from now.
  REQUIRE(store->put(Table::kTriplets, "past", "v", 123).ok());
  ttl = ttl_of(raw, "test:t:past");
  CHECK(ttl > 50);
  CHECK(ttl <= 60);
  CHECK(store->get(Table::kTriplets, "past").value() == "v");
}

TEST_CASE("expired entries: absent for get, skipped and pruned by scan, counted until then") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  // 2,500 keys (more than one scan script run examines), all but every
  // 500th made to expire at once, as a TTL would.
  constexpr int kKeys = 2500;
  std::vector<std::string> kept;
  for (int i = 0; i < kKeys; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%05d", i);
    REQUIRE(store->put(Table::kTriplets, key, "v" + std::to_string(i), 0).ok());
    if (i % 500 == 499) {
      kept.push_back(key);
    } else {
      raw.command({"PEXPIRE", "test:t:"s + key, "1"});
    }
  }
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(store->get(Table::kTriplets, "k00000").value().has_value());
  // count() is ZCARD: the expired ones still count until a scan passes.
  CHECK(store->count(Table::kTriplets).value() == kKeys);

  // A page of 3 must come back full (not a short page that means "end")
  // although 1,497 expired members come before its third entry.
  auto page = store->scan(Table::kTriplets, "", 3);
  REQUIRE(page.ok());
  REQUIRE(page.value().size() == 3);
  CHECK(page.value()[0].key == kept[0]);
  CHECK(page.value()[0].value == "v499");
  CHECK(page.value()[1].key == kept[1]);
  CHECK(page.value()[2].key == kept[2]);
  auto rest = store->scan(Table::kTriplets, page.value()[2].key, 10);
  REQUIRE(rest.ok());
  REQUIRE(rest.value().size() == 2);
  CHECK(rest.value()[0].key == kept[3]);
  CHECK(rest.value()[1].key == kept[4]);
  // The scans removed the expired members from the index.
  CHECK(store->count(Table::kTriplets).value() == kept.size());
  CHECK(raw.command({"ZCARD", "test:i:t"})->integer == static_cast<long long>(kept.size()));
}

TEST_CASE("a scan never removes the index member of an entry that exists") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  // Writers keep re-creating keys while scans prune expired members.
  constexpr int kKeys = 200;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int round = 0; round < 20 && !done; ++round) {
      for (int i = 0; i < kKeys; ++i) {
        if (!store->put(Table::kClients, "w" + std::to_string(i), "v", 0).ok()) ++failures;
      }
    }
  });
  RedisClient expirer(server.port());
  REQUIRE(expirer.ok());
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < kKeys; i += 3) expirer.command({"DEL", "test:c:w" + std::to_string(i)});
    if (!store->scan(Table::kClients, "", 1000).ok()) ++failures;
  }
  writer.join();
  done = true;
  CHECK(failures == 0);
  // Now every key exists (the writer's last round re-created them all):
  // each must be in the index.
  for (int i = 0; i < kKeys; ++i) {
    REQUIRE(store->put(Table::kClients, "w" + std::to_string(i), "v", 0).ok());
  }
  auto all = store->scan(Table::kClients, "", 1000);
  REQUIRE(all.ok());
  CHECK(all.value().size() == kKeys);
  CHECK(store->count(Table::kClients).value() == kKeys);
}

TEST_CASE("two stores on one server, 8 threads incrementing one key: exact count") {
  RedisServer server;
  auto a = open_store(options_for(server.url(), "shared:", 5000ms));
  auto b = open_store(options_for(server.url(), "shared:", 5000ms));
  constexpr int kThreads = 8;
  constexpr int kIncrements = 300;
  std::atomic<int> failures{0};
  std::atomic<int> calls{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    RedisStore& store = t % 2 == 0 ? *a : *b;
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        const Status st = store.update(Table::kClients, "counter",
                                       [&](std::optional<std::string>& v) {
                                         ++calls;
                                         return increment(v);
                                       });
        if (!st.ok()) {
          std::lock_guard lock(failure_mutex);
          if (failures++ == 0) first_failure = st.message();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK_MESSAGE(failures == 0, first_failure);
  CHECK(a->get(Table::kClients, "counter").value() == std::to_string(kThreads * kIncrements));
  CHECK(b->get(Table::kClients, "counter").value() == std::to_string(kThreads * kIncrements));
  // Lost races were retried (the function ran more often than it counted).
  MESSAGE("update functions ran " << calls.load() << " times for "
                                  << kThreads * kIncrements << " increments");
  CHECK(calls >= kThreads * kIncrements);
}

TEST_CASE("an update that keeps leaves nothing watched on its connection") {
  RedisServer server;
  RedisOptions options = options_for(server.url());
  options.max_connections = 1;  // every call on the same connection
  auto store = open_store(options);
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  REQUIRE(store->put(Table::kTriplets, "read-only", "v", 0).ok());
  REQUIRE(store->update(Table::kTriplets, "read-only", [](std::optional<std::string>&) {
    return UpdateOutcome{};
  }).ok());
  // Someone else changes the key that was read...
  raw.command({"SET", "test:t:read-only", "changed"});
  // ...which must not make the next transaction on this connection fail.
  int runs = 0;
  REQUIRE(store->update(Table::kTriplets, "other", [&](std::optional<std::string>& v) {
    ++runs;
    v = "w";
    return UpdateOutcome{Verdict::kWrite, 0};
  }).ok());
  CHECK(runs == 1);
}

// The members of a table's index and the entries that exist agree.
void check_index_matches_entries(RedisClient& raw, const std::string& prefix, const char* table) {
  const auto members = raw.command({"ZRANGE", prefix + "i:" + table, "0", "-1"});
  REQUIRE(members);
  const auto keys = raw.command({"KEYS", prefix + table + ":*"});
  REQUIRE(keys);
  std::vector<std::string> indexed;
  for (const RedisValue& m : members->elements) indexed.push_back(prefix + table + ":" + m.text);
  std::vector<std::string> stored;
  for (const RedisValue& k : keys->elements) stored.push_back(k.text);
  std::sort(indexed.begin(), indexed.end());
  std::sort(stored.begin(), stored.end());
  CHECK(indexed == stored);
}

TEST_CASE("update costs one GET when it keeps, GET and one EVALSHA when it writes; no WATCH") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  REQUIRE(store->check().ok());  // connects (and loads the script) first
  const long long gets = redis_command_calls(raw, "get");
  const long long evalshas = redis_command_calls(raw, "evalsha");
  REQUIRE(store->update(Table::kTriplets, "k", [](std::optional<std::string>&) {
    return UpdateOutcome{};
  }).ok());
  CHECK(redis_command_calls(raw, "get") - gets == 1);
  CHECK(redis_command_calls(raw, "evalsha") - evalshas == 0);
  REQUIRE(store->update(Table::kTriplets, "k", increment).ok());
  CHECK(redis_command_calls(raw, "evalsha") - evalshas == 1);
  // One GET by update(), one inside the script.
  CHECK(redis_command_calls(raw, "get") - gets == 3);
  CHECK(redis_command_calls(raw, "watch") == 0);
  CHECK(redis_command_calls(raw, "exec") == 0);
  CHECK(store->get(Table::kTriplets, "k").value() == "1");
}

TEST_CASE("a writer changing the entry between the read and the compare-and-set") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  std::vector<std::optional<std::string>> seen;
  // The function's first run lets `meddle` change the entry behind it.
  auto appending = [&](const std::function<void()>& meddle) {
    seen.clear();
    return [&, meddle](std::optional<std::string>& value) {
      seen.push_back(value);
      if (seen.size() == 1) meddle();
      value = value.value_or("") + "+";
      return UpdateOutcome{Verdict::kWrite, now_seconds() + 3600};
    };
  };

  SUBCASE("changed: the function runs again on the new value") {
    REQUIRE(store->put(Table::kTriplets, "k", "old", 0).ok());
    REQUIRE(store->update(Table::kTriplets, "k", appending([&] {
      raw.command({"SET", "test:t:k", "new"});
    })).ok());
    REQUIRE(seen.size() == 2);
    CHECK(seen[0] == "old");
    CHECK(seen[1] == "new");
    CHECK(store->get(Table::kTriplets, "k").value() == "new+");
    CHECK(ttl_of(raw, "test:t:k") > 3500);
  }
  SUBCASE("created: the function runs again on the entry another wrote") {
    REQUIRE(store->update(Table::kTriplets, "k", appending([&] {
      raw.command({"SET", "test:t:k", "theirs"});
      raw.command({"ZADD", "test:i:t", "0", "k"});
    })).ok());
    REQUIRE(seen.size() == 2);
    CHECK_FALSE(seen[0].has_value());
    CHECK(seen[1] == "theirs");
    CHECK(store->get(Table::kTriplets, "k").value() == "theirs+");
  }
  SUBCASE("deleted: the function runs again on an absent entry") {
    REQUIRE(store->put(Table::kTriplets, "k", "old", 0).ok());
    REQUIRE(store->update(Table::kTriplets, "k", appending([&] {
      raw.command({"DEL", "test:t:k"});
    })).ok());
    REQUIRE(seen.size() == 2);
    CHECK_FALSE(seen[1].has_value());
    CHECK(store->get(Table::kTriplets, "k").value() == "+");
  }
  SUBCASE("the same bytes written again: no conflict (a compare of values, not of versions)") {
    REQUIRE(store->put(Table::kTriplets, "k", "old", 0).ok());
    REQUIRE(store->update(Table::kTriplets, "k", appending([&] {
      raw.command({"SET", "test:t:k", "old"});
    })).ok());
    CHECK(seen.size() == 1);
    CHECK(store->get(Table::kTriplets, "k").value() == "old+");
  }
  check_index_matches_entries(raw, "test:", "t");
}

TEST_CASE("erase by compare-and-set: removes the entry and its index member, unless it changed") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  REQUIRE(store->put(Table::kClients, "gone", "v", 0).ok());
  REQUIRE(store->put(Table::kClients, "kept", "v", 0).ok());
  auto erase_if_v = [](std::optional<std::string>& value) {
    return value == "v" ? UpdateOutcome{Verdict::kErase, 0} : UpdateOutcome{};
  };
  REQUIRE(store->update(Table::kClients, "gone", erase_if_v).ok());
  CHECK_FALSE(exists(raw, "test:c:gone"));
  CHECK(raw.command({"ZSCORE", "test:i:c", "gone"})->type == RedisValue::Type::kNil);

  // Changed to a value the function keeps between its read and the delete.
  int runs = 0;
  REQUIRE(store->update(Table::kClients, "kept", [&](std::optional<std::string>& value) {
    if (++runs == 1) raw.command({"SET", "test:c:kept", "w"});
    return erase_if_v(value);
  }).ok());
  CHECK(runs == 2);
  CHECK(store->get(Table::kClients, "kept").value() == "w");
  check_index_matches_entries(raw, "test:", "c");
}

TEST_CASE("the script flushed from the server (SCRIPT FLUSH): reloaded without an error") {
  RedisServer server;
  RedisOptions options = options_for(server.url());
  options.max_connections = 1;  // the connection that loaded the script is reused
  auto store = open_store(options);
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  REQUIRE(store->update(Table::kTriplets, "k", increment).ok());
  const long long loads = redis_command_calls(raw, "script|load");
  for (int i = 0; i < 2; ++i) {
    REQUIRE(raw.command({"SCRIPT", "FLUSH"})->type == RedisValue::Type::kStatus);
    const Status updated = store->update(Table::kTriplets, "k", increment);
    CHECK_MESSAGE(updated.ok(), updated.message());
  }
  CHECK(redis_command_calls(raw, "script|load") - loads == 2);
  CHECK(store->get(Table::kTriplets, "k").value() == "3");
  REQUIRE(store->update(Table::kTriplets, "k", increment).ok());  // no reload needed now
  CHECK(redis_command_calls(raw, "script|load") - loads == 2);
  check_index_matches_entries(raw, "test:", "t");
}

TEST_CASE("writers and erasers racing on a few keys from two stores: the index stays consistent") {
  RedisServer server;
  auto a = open_store(options_for(server.url(), "test:", 5000ms));
  auto b = open_store(options_for(server.url(), "test:", 5000ms));
  constexpr int kThreads = 6;
  constexpr int kRounds = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RedisStore& store = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < kRounds; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 5);
        const bool erase = (i + t) % 3 == 0;
        const Status st = store.update(Table::kTriplets, key, [&](std::optional<std::string>& v) {
          if (erase) return UpdateOutcome{Verdict::kErase, 0};
          return increment(v);
        });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  RedisClient raw(server.port());
  REQUIRE(raw.ok());
  check_index_matches_entries(raw, "test:", "t");
}

TEST_CASE("an update function that throws: an error, nothing written, the store still works") {
  RedisServer server;
  RedisOptions options = options_for(server.url());
  options.max_connections = 1;
  auto store = open_store(options);
  REQUIRE(store->put(Table::kTriplets, "k", "before", 0).ok());
  const Status st = store->update(Table::kTriplets, "k", [](std::optional<std::string>& v) -> UpdateOutcome {
    v = "half-done";
    throw std::runtime_error("boom");
  });
  CHECK(st.code() == Status::Code::kIoError);
  CHECK(st.message().find("boom") != std::string::npos);
  CHECK(store->get(Table::kTriplets, "k").value() == "before");
  REQUIRE(store->update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
    v = "after";
    return UpdateOutcome{Verdict::kWrite, 0};
  }).ok());
  CHECK(store->get(Table::kTriplets, "k").value() == "after");
}

TEST_CASE("redis killed: every call fails fast with kUnavailable; restarted: calls succeed again") {
  RedisServer server;
  auto store = open_store(options_for(server.url(), "test:", 500ms));
  REQUIRE(store->put(Table::kTriplets, "k", "v", 0).ok());
  REQUIRE(store->check().ok());

  server.kill();
  for (int round = 0; round < 3; ++round) {
    Status update_status;
    const auto took = timed([&] { update_status = store->update(Table::kTriplets, "k", increment); });
    CHECK(update_status.code() == Status::Code::kUnavailable);
    CHECK(took < 1s);
    auto got = store->get(Table::kTriplets, "k");
    CHECK(got.status().code() == Status::Code::kUnavailable);
    CHECK(store->put(Table::kTriplets, "k", "v", 0).code() == Status::Code::kUnavailable);
    CHECK(store->erase(Table::kTriplets, "k").code() == Status::Code::kUnavailable);
    CHECK(store->scan(Table::kTriplets, "", 10).status().code() == Status::Code::kUnavailable);
    CHECK(store->count(Table::kTriplets).status().code() == Status::Code::kUnavailable);
    CHECK(store->check().code() == Status::Code::kUnavailable);
    CHECK(got.status().message().find("redis (redis://127.0.0.1:" + std::to_string(server.port())) !=
          std::string::npos);
    std::this_thread::sleep_for(150ms);
  }

  // Same port, empty data (no persistence): the same store object recovers
  // once its back-off has passed (at most 2 s).
  server.restart();
  const auto deadline = SteadyClock::now() + 5s;
  bool recovered = false;
  while (SteadyClock::now() < deadline) {
    if (store->put(Table::kTriplets, "k", "again", 0).ok()) {
      recovered = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(recovered);
  CHECK(store->get(Table::kTriplets, "k").value() == "again");
  CHECK(store->update(Table::kTriplets, "n", increment).ok());
  CHECK(store->get(Table::kTriplets, "n").value() == "1");
}

TEST_CASE("a restarted server is reached on the next call, without an error, when the back-off is not running") {
  RedisServer server;
  auto store = open_store(options_for(server.url()));
  // Several pooled connections, all of which the restart closes.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) CHECK(store->update(Table::kClients, "c", increment).ok());
    });
  }
  for (auto& th : threads) th.join();
  server.restart();
  // The first call finds its pooled connection closed, replaces it, succeeds.
  CHECK(store->put(Table::kClients, "c", "fresh", 0).ok());
  CHECK(store->get(Table::kClients, "c").value() == "fresh");
}

TEST_CASE("a server that stops answering: kUnavailable within the timeout, then fast, then recovery") {
  RedisServer server;
  auto store = open_store(options_for(server.url(), "test:", 300ms));
  REQUIRE(store->put(Table::kTriplets, "k", "v", 0).ok());
  server.pause();
  Status first;
  auto took = timed([&] { first = store->update(Table::kTriplets, "k", increment); });
  CHECK(first.code() == Status::Code::kUnavailable);
  CHECK(took >= 250ms);
  CHECK(took < 800ms);
  // While the back-off runs, calls fail without waiting.
  Result<std::optional<std::string>> second = Status::Unavailable("not run");
  took = timed([&] { second = store->get(Table::kTriplets, "k"); });
  CHECK(second.status().code() == Status::Code::kUnavailable);
  CHECK(took < 50ms);
  server.resume();
  const auto deadline = SteadyClock::now() + 5s;
  bool recovered = false;
  while (SteadyClock::now() < deadline && !recovered) {
    recovered = store->get(Table::kTriplets, "k").ok();
    if (!recovered) std::this_thread::sleep_for(50ms);
  }
  CHECK(recovered);
}

TEST_CASE("nothing listening: kUnavailable at once") {
  const int port = testing::free_loopback_port();
  auto store = open_store(options_for("redis://127.0.0.1:" + std::to_string(port)));
  Status st;
  const auto took = timed([&] { st = store->check(); });
  CHECK(st.code() == Status::Code::kUnavailable);
  CHECK(st.message().find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(took < 500ms);
}

TEST_CASE("logins and databases") {
  RedisServer server({"--requirepass", "s3cret"});
  SUBCASE("no password: refused, as a configuration error") {
    auto store = open_store(options_for(server.url()));
    const Status st = store->check();
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CHECK(st.message().find("NOAUTH") != std::string::npos);
  }
  SUBCASE("a wrong password: refused, as a configuration error") {
    auto store = open_store(options_for("redis://:wrong@127.0.0.1:" + std::to_string(server.port())));
    const Status st = store->check();
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CHECK(st.message().find("wrong") == std::string::npos);
  }
  SUBCASE("the right password and database 3") {
    auto store = open_store(options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/3"));
    REQUIRE(store->check().ok());
    REQUIRE(store->put(Table::kTriplets, "k", "in-db-3", 0).ok());
    RedisClient raw(server.port());
    REQUIRE(raw.ok());
    raw.command({"AUTH", "s3cret"});
    CHECK(raw.command({"EXISTS", "test:t:k"})->integer == 0);
    raw.command({"SELECT", "3"});
    CHECK(raw.command({"GET", "test:t:k"})->text == "in-db-3");
  }
  SUBCASE("a database the server does not have") {
    auto store = open_store(options_for("redis://:s3cret@127.0.0.1:" + std::to_string(server.port()) + "/99"));
    CHECK(store->check().code() == Status::Code::kInvalidArgument);
  }
}

TEST_CASE("all connections busy: a call waits only until its deadline") {
  RedisServer server;
  RedisOptions options = options_for(server.url(), "test:", 200ms);
  options.max_connections = 1;
  auto store = open_store(options);
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    // Holds the only connection for far longer than the timeout, so that a
    // caller scheduled late on a loaded machine still finds it busy.
    const Status st = store->update(Table::kTriplets, "slow", [&](std::optional<std::string>& v) {
      holding = true;
      std::this_thread::sleep_for(3s);
      v = "late";
      return UpdateOutcome{Verdict::kWrite, 0};
    });
    // Its own deadline passed while the function ran: nothing written.
    CHECK(st.code() == Status::Code::kUnavailable);
  });
  while (!holding) std::this_thread::sleep_for(1ms);
  Result<std::optional<std::string>> got = Status::Unavailable("not run");
  const auto took = timed([&] { got = store->get(Table::kTriplets, "x"); });
  CHECK(got.status().code() == Status::Code::kUnavailable);
  CHECK(got.status().message().find("busy") != std::string::npos);
  CHECK(took >= 150ms);
  CHECK(took < 2s);  // the deadline (200 ms), not the holder's 3 s
  holder.join();
  CHECK_FALSE(store->get(Table::kTriplets, "slow").value().has_value());
}

TEST_CASE("Sentinel: the replica promoted while updates run; no call beyond its timeout") {
  testing::RedisFailoverSet set;
  RedisOptions options = options_for("redis://127.0.0.1:1/0", "test:", 300ms);  // address unused
  auto sentinels = parse_redis_host_ports(set.sentinel_list());
  REQUIRE(sentinels.ok());
  options.sentinels = sentinels.value();
  auto store = open_store(options);
  CHECK(store->description().find("master mymaster via sentinels 127.0.0.1:") == 0);
  REQUIRE(store->put(Table::kTriplets, "before", "v", 0).ok());
  {
    // Replicated before the primary dies: WAIT for the replica's ack.
    RedisClient primary(set.primary->port());
    REQUIRE(primary.ok());
    const auto acked = primary.command({"WAIT", "1", "2000"});
    REQUIRE(acked);
    REQUIRE(acked->integer == 1);
  }

  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0};
  std::atomic<int> failed_calls{0};
  std::atomic<int> slow_calls{0};
  std::atomic<long long> slowest_ms{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; !stop && i < 100000; ++i) {
        Status st;
        const auto took = timed([&] {
          st = store->update(Table::kClients, "load" + std::to_string(t), increment);
        });
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
        if (ms > slowest_ms) slowest_ms = ms;
        // The 300 ms deadline, plus scheduling slack on a busy host.
        if (took > 600ms) ++slow_calls;
        (st.ok() ? ok_calls : failed_calls)++;
        std::this_thread::sleep_for(2ms);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  set.primary->kill();
  const bool promoted = set.wait_for_promotion(30s);
  // Writes go to the new master by themselves, without a new store.
  bool writing = false;
  const auto deadline = SteadyClock::now() + 10s;
  while (promoted && !writing && SteadyClock::now() < deadline) {
    writing = store->put(Table::kTriplets, "after", "v", 0).ok();
    if (!writing) std::this_thread::sleep_for(50ms);
  }
  const int ok_before_stop = ok_calls;
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& th : threads) th.join();
  REQUIRE(promoted);
  CHECK(writing);
  CHECK(ok_calls > ok_before_stop);  // the load recovered too
  CHECK(failed_calls > 0);           // the outage was seen...
  CHECK_MESSAGE(slow_calls == 0, "slowest call " << slowest_ms.load() << " ms");  // ...quickly
  CHECK(store->get(Table::kTriplets, "before").value() == "v");
  RedisClient promoted_replica(set.replica->port());
  REQUIRE(promoted_replica.ok());
  CHECK(promoted_replica.command({"GET", "test:t:after"})->text == "v");
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
