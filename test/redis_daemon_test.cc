// Several MX hosts, one greylist: greylist-milter daemons (policy front end,
// --store redis) sharing one redis-server that the test starts on loopback.
// GREYLIST_MILTER_BINARY is the path meson gives.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "greylist/key_layout.h"
#include "greylist/record_codec.h"
#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/line_client.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"

using namespace greylist::testing;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr const char* kPrefix = "mx:";

std::string triplet_request(const std::string& sender, const std::string& recipient,
                            const std::string& client = "198.51.100.7",
                            const std::string& name = "mail.sender.test") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=" + name + "\nsender=" + sender + "\nrecipient=" + recipient + "\n";
}

bool is_greylist(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT Greylisted, see ", 0) == 0;
}
bool is_prepend(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=PREPEND X-Greylist: delayed ", 0) == 0;
}
bool is_dunno(const std::optional<std::string>& reply) { return reply == "action=DUNNO\n\n"; }
bool is_tempfail(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT 4.3.0 Greylisting service temporarily "
                               "unavailable", 0) == 0;
}

// One MX host: a daemon on its own policy port and directory, sharing Redis;
// started and serving.
struct MxDaemon : DaemonProcess {
  MxDaemon(const RedisServer& redis, int delay, const std::vector<std::string>& extra = {})
      : DaemonProcess("greylist-mx") {
    hostname = "mx.test";
    base_options = {"--delay", std::to_string(delay), "--store", "redis", "--redis", redis.url(),
                    "--redis-prefix", kPrefix, "--redis-timeout", "300", "--pool-by-domain", "no",
                    "--auto-whitelist-domains", "0"};
    REQUIRE_MESSAGE(start(extra), log());
  }
};

TEST_SUITE("redis_daemons") {

TEST_CASE("greylisted through daemon A, passed through daemon B after the delay (3 s)") {
  RedisServer redis;
  MxDaemon a(redis, 3);
  MxDaemon b(redis, 3);
  LineClient to_a(a.policy_port, 10s);
  LineClient to_b(b.policy_port, 10s);
  REQUIRE(to_a.ok());
  REQUIRE(to_b.ok());
  const std::string request = triplet_request("alice@sender.test", "bob@rcpt.test");

  const auto first = SteadyClock::now();
  REQUIRE(is_greylist(to_a.policy(request)));
  // A second later (first-seen times are whole seconds), B knows the
  // triplet already: an early retry, not a new one.
  std::this_thread::sleep_until(first + 1100ms);
  REQUIRE(is_greylist(to_b.policy(request)));
  CHECK(a.wait_lines_with("action=greylist, reason=new,", 1) == 1);
  CHECK(b.wait_lines_with("action=greylist, reason=early-retry", 1) == 1);
  CHECK(b.lines_with("reason=new") == 0);

  std::this_thread::sleep_until(first + 3100ms);
  const auto passed = to_b.policy(request);
  CHECK(is_prepend(passed));
  CHECK(b.wait_lines_with("action=pass, reason=triplet found, delay=", 1) == 1);
  // And A sees it passed (no second header).
  CHECK(is_dunno(to_a.policy(request)));
}

TEST_CASE("a client auto-whitelisted through daemon A is whitelisted on daemon B") {
  RedisServer redis;
  const std::vector<std::string> awl_after_one{"--auto-whitelist-clients", "1"};
  MxDaemon a(redis, 1, awl_after_one);
  MxDaemon b(redis, 1, awl_after_one);
  LineClient to_a(a.policy_port, 10s);
  LineClient to_b(b.policy_port, 10s);
  REQUIRE(to_a.ok());
  REQUIRE(to_b.ok());
  const std::string client = "192.0.2.55";
  const std::string first = triplet_request("one@sender.test", "r1@rcpt.test", client);
  REQUIRE(is_greylist(to_a.policy(first)));
  std::this_thread::sleep_for(1100ms);
  REQUIRE(is_prepend(to_a.policy(first)));
  // A triplet nobody has seen, from the same client, through B.
  const auto other = to_b.policy(triplet_request("two@sender.test", "r2@rcpt.test", client));
  CHECK(is_dunno(other));
  CHECK(b.wait_lines_with("action=pass, reason=client AWL", 1) == 1);
}

// Issue 14: a greytrap's record lives in the store, so every MX host on
// the Redis holds the trapped network.
TEST_CASE("a greytrap hit through daemon A: daemon B tempfails that network past the delay") {
  RedisServer redis;
  TempDir rules_dir("greylist-trap-rules");
  const std::string rules = rules_dir.file("rules");
  std::ofstream(rules) << "racl \"trap\" greytrap rcpt trap@rcpt.test\n";
  const std::vector<std::string> with_rules{"--rules", rules, "--dynamic-delay", "0"};
  MxDaemon a(redis, 1, with_rules);
  MxDaemon b(redis, 1, with_rules);
  LineClient to_a(a.policy_port, 10s);
  LineClient to_b(b.policy_port, 10s);
  REQUIRE(to_a.ok());
  REQUIRE(to_b.ok());

  REQUIRE(is_greylist(to_a.policy(triplet_request("bot@spam.test", "trap@rcpt.test", "198.51.100.7"))));
  CHECK(a.wait_lines_with("reason=greytrap", 1) == 1);
  CHECK(a.lines_with("rule=" + rules + ":1 (trap)") == 1);
  // Through B: the trapped client's neighbour (same /24) and a client of
  // another network, each with a triplet never seen.
  const std::string trapped = triplet_request("bot@spam.test", "bob@rcpt.test", "198.51.100.8");
  const std::string other =
      triplet_request("ok@fine.test", "bob@rcpt.test", "203.0.113.9", "mail.fine.test");
  REQUIRE(is_greylist(to_b.policy(trapped)));
  REQUIRE(is_greylist(to_b.policy(other)));
  std::this_thread::sleep_for(2100ms);
  CHECK(is_greylist(to_b.policy(trapped)));
  CHECK(b.wait_lines_with("reason=greytrap", 2) == 2);
  CHECK(b.lines_with("client_address=198.51.100.8") == 2);
  CHECK(is_prepend(to_b.policy(other)));

  RedisClient raw(redis.port());
  REQUIRE(raw.ok());
  // The clients table ("c:") holds the trap under the key layout's prefix.
  const auto keys = raw.command(
      {"KEYS", std::string(kPrefix) + "c:" + std::string(greylist::kGreytrapKeyPrefix) + "*"});
  REQUIRE(keys);
  CHECK(keys->elements.size() == 1);
}

TEST_CASE("the same new triplet sent to both daemons at the same instant is recorded once") {
  RedisServer redis;
  MxDaemon a(redis, 300);
  MxDaemon b(redis, 300);
  LineClient to_a(a.policy_port, 10s);
  LineClient to_b(b.policy_port, 10s);
  REQUIRE(to_a.ok());
  REQUIRE(to_b.ok());
  RedisClient raw(redis.port());
  REQUIRE(raw.ok());
  const long long sets_before = redis_command_calls(raw, "set");

  constexpr int kTriplets = 20;
  int greylisted = 0;
  for (int i = 0; i < kTriplets; ++i) {
    const std::string request =
        triplet_request("race" + std::to_string(i) + "@sender.test", "bob@rcpt.test");
    std::atomic<int> ready{0};
    std::optional<std::string> reply_a;
    std::optional<std::string> reply_b;
    auto send = [&](LineClient& client, std::optional<std::string>& reply) {
      ++ready;
      const auto give_up = SteadyClock::now() + 5s;
      while (ready.load() < 2 && SteadyClock::now() < give_up) {
      }
      reply = client.policy(request);
    };
    std::thread ta([&] { send(to_a, reply_a); });
    std::thread tb([&] { send(to_b, reply_b); });
    ta.join();
    tb.join();
    greylisted += (is_greylist(reply_a) ? 1 : 0) + (is_greylist(reply_b) ? 1 : 0);
  }
  CHECK(greylisted == 2 * kTriplets);
  // One write per triplet: whichever daemon lost the race read the winner's
  // record and wrote nothing (a lost update would show as a second SET).
  CHECK(redis_command_calls(raw, "set") - sets_before == kTriplets);
  const auto indexed = raw.command({"ZCARD", std::string(kPrefix) + "i:t"});
  REQUIRE(indexed);
  CHECK(indexed->integer == kTriplets);
  // Each record holds one first-seen time, the same for both answers.
  const auto members = raw.command({"ZRANGE", std::string(kPrefix) + "i:t", "0", "-1"});
  REQUIRE(members);
  REQUIRE(members->elements.size() == kTriplets);
  for (const auto& member : members->elements) {
    const auto value = raw.command({"GET", std::string(kPrefix) + "t:" + member.text});
    REQUIRE(value);
    const auto record = greylist::decode_triplet(value->text);
    REQUIRE(record);
    CHECK(record->first_seen == record->last_seen);
    CHECK_FALSE(record->passed);
  }
}

TEST_CASE("redis killed under load: answers by --on-error, no crash; restarted: greylisting resumes") {
  RedisServer redis;
  MxDaemon accept(redis, 300);
  MxDaemon tempfail(redis, 300, {"--on-error", "tempfail"});
  LineClient to_accept(accept.policy_port, 10s);
  LineClient to_tempfail(tempfail.policy_port, 10s);
  REQUIRE(to_accept.ok());
  REQUIRE(to_tempfail.ok());
  REQUIRE(is_greylist(to_accept.policy(triplet_request("before@sender.test", "x@rcpt.test"))));

  // Load on both daemons through the outage: every request answered, none
  // slower than the Redis timeout (300 ms) plus a margin.
  std::atomic<bool> stop{false};
  std::atomic<int> unanswered{0};
  std::atomic<int> slow{0};
  std::atomic<int> answered{0};
  auto load = [&](int port, int id) {
    LineClient client(port, 10s);
    if (!client.ok()) {
      ++unanswered;
      return;
    }
    for (int i = 0; !stop && i < 100000; ++i) {
      const auto start = SteadyClock::now();
      const auto reply = client.policy(triplet_request(
          "load" + std::to_string(id) + "-" + std::to_string(i) + "@sender.test", "x@rcpt.test"));
      if (!reply) {
        ++unanswered;
        return;
      }
      ++answered;
      if (SteadyClock::now() - start > 1s) ++slow;
      std::this_thread::sleep_for(5ms);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back(load, accept.policy_port, t);
    threads.emplace_back(load, tempfail.policy_port, 10 + t);
  }

  std::this_thread::sleep_for(300ms);
  redis.kill();
  std::this_thread::sleep_for(300ms);
  // During the outage: the configured fallback, quickly.
  auto start = SteadyClock::now();
  CHECK(is_dunno(to_accept.policy(triplet_request("during@sender.test", "x@rcpt.test"))));
  CHECK(SteadyClock::now() - start < 1s);
  start = SteadyClock::now();
  CHECK(is_tempfail(to_tempfail.policy(triplet_request("during@sender.test", "x@rcpt.test"))));
  CHECK(SteadyClock::now() - start < 1s);
  std::this_thread::sleep_for(1500ms);

  redis.restart();  // same port, empty
  bool resumed = false;
  const auto deadline = SteadyClock::now() + 8s;
  for (int i = 0; SteadyClock::now() < deadline && !resumed; ++i) {
    resumed = is_greylist(to_accept.policy(
                  triplet_request("after" + std::to_string(i) + "@sender.test", "x@rcpt.test"))) &&
              is_greylist(to_tempfail.policy(
                  triplet_request("after" + std::to_string(i) + "@sender.test", "y@rcpt.test")));
    if (!resumed) std::this_thread::sleep_for(100ms);
  }
  stop = true;
  for (auto& th : threads) th.join();
  CHECK(resumed);
  CHECK(unanswered == 0);
  CHECK(slow == 0);
  CHECK(answered > 20);
  CHECK(accept.running());
  CHECK(tempfail.running());
  // The outage is logged, rate-limited: not one line per failed request.
  CHECK(accept.wait_lines_with("unavailable", 1) >= 1);
  CHECK(accept.lines_with("error: redis (") <= 3);
  CHECK(accept.wait_lines_with("connected again", 1) >= 1);
}

TEST_CASE("a daemon started while its Redis is down serves by --on-error, then greylists") {
  RedisServer redis;
  redis.kill();
  MxDaemon daemon(redis, 300);
  LineClient client(daemon.policy_port, 10s);
  REQUIRE(client.ok());
  CHECK(is_dunno(client.policy(triplet_request("early@sender.test", "x@rcpt.test"))));
  CHECK(daemon.wait_lines_with("serving anyway", 1) == 1);
  redis.restart();
  bool greylisting = false;
  const auto deadline = SteadyClock::now() + 8s;
  for (int i = 0; SteadyClock::now() < deadline && !greylisting; ++i) {
    greylisting = is_greylist(
        client.policy(triplet_request("later" + std::to_string(i) + "@sender.test", "x@rcpt.test")));
    if (!greylisting) std::this_thread::sleep_for(100ms);
  }
  CHECK(greylisting);
}

TEST_CASE("a refused Redis login stops the daemon at start, naming the problem") {
  RedisServer redis({"--requirepass", "right"});
  const TempDir scratch("greylist-mx-auth");
  const std::string& dir = scratch.path();
  std::string out;
  const int status = run_program(
      {GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" + std::to_string(free_loopback_port()),
       "--milter", "none", "--dbdir", dir + "/db", "--log", "stderr", "--pool-by-spf", "no", "--store", "redis",
       "--redis", "redis://:wrong@127.0.0.1:" + std::to_string(redis.port())},
      out, 10s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find("WRONGPASS") != std::string::npos);
  CHECK(out.find(":wrong@") == std::string::npos);
}

TEST_CASE("Sentinel: the replica promoted while load runs; every request answered in time") {
  RedisFailoverSet set;
  // --redis gives only the database here: the sentinels name the master.
  MxDaemon daemon(*set.primary, 2,
                  {"--redis-sentinel", set.sentinel_list(), "--redis-master", "mymaster"});
  LineClient client(daemon.policy_port, 10s);
  REQUIRE(client.ok());
  CHECK(daemon.wait_lines_with("store=redis (master mymaster via sentinels 127.0.0.1:", 1) == 1);
  const std::string known = triplet_request("kept@sender.test", "bob@rcpt.test");
  const auto first = SteadyClock::now();
  REQUIRE(is_greylist(client.policy(known)));
  {
    RedisClient primary(set.primary->port());
    const auto acked = primary.command({"WAIT", "1", "2000"});
    REQUIRE(acked);
    REQUIRE(acked->integer == 1);
  }

  std::atomic<bool> stop{false};
  std::atomic<int> unanswered{0};
  std::atomic<int> slow{0};
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      LineClient load(daemon.policy_port, 10s);
      for (int i = 0; !stop && i < 100000; ++i) {
        const auto start = SteadyClock::now();
        const auto reply = load.policy(triplet_request(
            "load" + std::to_string(t) + "-" + std::to_string(i) + "@sender.test", "x@rcpt.test"));
        if (!reply) {
          ++unanswered;
          return;
        }
        ++answered;
        if (SteadyClock::now() - start > 1s) ++slow;
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  set.primary->kill();
  const bool promoted = set.wait_for_promotion(30s);
  // The triplet seen before the failover passes on the new master.
  std::this_thread::sleep_until(std::max(SteadyClock::now(), first + 2100ms));
  bool passed = false;
  const auto deadline = SteadyClock::now() + 10s;
  while (promoted && !passed && SteadyClock::now() < deadline) {
    passed = is_prepend(client.policy(known));
    if (!passed) std::this_thread::sleep_for(100ms);
  }
  stop = true;
  for (auto& th : threads) th.join();
  REQUIRE(promoted);
  CHECK(passed);
  CHECK(unanswered == 0);
  CHECK(slow == 0);
  CHECK(answered > 20);
  CHECK(daemon.running());
}

}  // TEST_SUITE

}  // namespace
