// AresResolver against a real DNS server on loopback (dnsmasq, started and
// stopped by each test): listed, NXDOMAIN and silent zones.
#include "greylist/ares_resolver.h"
#include "greylist/rule_set.h"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "dns/asio_resolve.h"
#include "support/dnsmasq_server.h"
#include "support/stderr_capture.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::DnsmasqServer;
using greylist::testing::DnsmasqZones;
using greylist::testing::StderrCapture;
using Clock = std::chrono::steady_clock;

namespace {

DnsmasqZones test_zones(int ttl = 300) {
  DnsmasqZones zones;
  for (int i = 0; i < 40; ++i) {
    zones.records.emplace_back(std::to_string(i) + ".0.0.127.listed.test", "127.0.0.2");
  }
  zones.records.emplace_back("10.0.0.127.listed.test", "127.0.10.3");
  // 2001:db8::1, by nibbles.
  zones.records.emplace_back("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.listed.test",
                             "127.0.0.2");
  zones.local_zones = {"listed.test", "unlisted.test"};
  zones.silent_zones = {"silent.test"};
  zones.ttl = ttl;
  return zones;
}

std::unique_ptr<AresResolver> resolver_for(const DnsmasqServer& server,
                                           std::chrono::milliseconds timeout = 2000ms,
                                           std::chrono::seconds min_ttl = 10s) {
  AresResolverOptions options;
  options.servers = {server.address()};
  options.timeout = timeout;
  options.min_ttl = min_ttl;
  auto resolver = AresResolver::create(options);
  REQUIRE_MESSAGE(resolver.ok(), resolver.status().message());
  return std::move(resolver).value();
}

// Answers delivered to a callback, waited for from the test thread.
class Collector {
 public:
  DnsResolver::Callback callback() {
    return [this](DnsAnswers answers) {
      std::lock_guard lock(mutex_);
      answers_ = std::move(answers);
      done_at_ = Clock::now();
      done_ = true;
      ready_.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return ready_.wait_for(lock, timeout, [this] { return done_; });
  }
  bool done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  DnsAnswers answers() {
    std::lock_guard lock(mutex_);
    return answers_;
  }
  Clock::time_point done_at() {
    std::lock_guard lock(mutex_);
    return done_at_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  bool done_ = false;
  DnsAnswers answers_;
  Clock::time_point done_at_;
};

DnsAnswer::Kind kind_of(AresResolver& resolver, const std::string& name) {
  return resolve_and_wait(resolver, {name}, 5s).at(name).kind;
}

}  // namespace

TEST_SUITE("ares_resolver") {

TEST_CASE("listed, not listed, no A record") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  const auto answers = resolve_and_wait(*resolver, {"2.0.0.127.listed.test", "10.0.0.127.listed.test",
                                                    "99.0.0.127.listed.test", "x.unlisted.test"}, 5s);
  REQUIRE(answers.size() == 4);
  const DnsAnswer& listed = answers.at("2.0.0.127.listed.test");
  CHECK(listed.kind == DnsAnswer::Kind::kListed);
  REQUIRE(listed.addresses.size() == 1);
  CHECK(listed.addresses[0] == std::array<std::uint8_t, 4>{127, 0, 0, 2});
  CHECK(answers.at("10.0.0.127.listed.test").addresses[0] == std::array<std::uint8_t, 4>{127, 0, 10, 3});
  CHECK(answers.at("99.0.0.127.listed.test").kind == DnsAnswer::Kind::kNotListed);
  CHECK(answers.at("x.unlisted.test").kind == DnsAnswer::Kind::kNotListed);
}

TEST_CASE("names are matched case-insensitively, without the final dot") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  const auto answers = resolve_and_wait(*resolver, {"2.0.0.127.LISTED.test."}, 5s);
  CHECK(answers.at("2.0.0.127.listed.test").kind == DnsAnswer::Kind::kListed);
}

TEST_CASE("answers are cached for their TTL, then asked again") {
  DnsmasqServer server(test_zones(1));
  auto resolver = resolver_for(server, 2000ms, 1s);
  const std::string name = "3.0.0.127.listed.test";
  CHECK(kind_of(*resolver, name) == DnsAnswer::Kind::kListed);
  CHECK(kind_of(*resolver, name) == DnsAnswer::Kind::kListed);
  CHECK(kind_of(*resolver, "x.unlisted.test") == DnsAnswer::Kind::kNotListed);
  CHECK(kind_of(*resolver, "x.unlisted.test") == DnsAnswer::Kind::kNotListed);
  CHECK(server.queries_for(name) == 1);
  CHECK(server.queries_for("x.unlisted.test") == 1);
  auto stats = resolver->stats();
  CHECK(stats.lookups == 4);
  CHECK(stats.cache_hits == 2);
  CHECK(stats.queries == 2);
  CHECK(stats.cached == 2);
  std::this_thread::sleep_for(1200ms);  // the 1 s TTL passes
  CHECK(kind_of(*resolver, name) == DnsAnswer::Kind::kListed);
  CHECK(server.queries_for(name) == 2);
}

TEST_CASE("a cached answer is given before resolve() returns") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  CHECK(kind_of(*resolver, "4.0.0.127.listed.test") == DnsAnswer::Kind::kListed);
  Collector collector;
  resolver->resolve({"4.0.0.127.listed.test"}, collector.callback());
  CHECK(collector.done());
  Collector empty;
  resolver->resolve({}, empty.callback());
  CHECK(empty.done());
  CHECK(empty.answers().empty());
}

TEST_CASE("concurrent lookups of one name share one query") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  std::vector<Collector> collectors(8);
  for (auto& collector : collectors) resolver->resolve({"5.0.0.127.listed.test"}, collector.callback());
  for (auto& collector : collectors) {
    REQUIRE(collector.wait(5s));
    CHECK(collector.answers().at("5.0.0.127.listed.test").kind == DnsAnswer::Kind::kListed);
  }
  CHECK(server.queries_for("5.0.0.127.listed.test") == 1);
}

TEST_CASE("concurrent resolve() calls: every callback runs exactly once") {
  // resolve() once read its job after queueing it: when the answer came
  // first, the callback could run twice. That window is narrow (and the
  // eventfd write after the read hides it from ThreadSanitizer in most
  // runs): this checks the contract, exactly one call each, under load.
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  constexpr int kThreads = 4;
  constexpr int kLookups = 100;
  std::vector<std::atomic<int>> calls(kThreads * kLookups);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLookups; ++i) {
        const int slot = t * kLookups + i;
        resolver->resolve({"n" + std::to_string(slot) + ".unlisted.test"},
                          [&calls, slot](DnsAnswers) { ++calls[static_cast<std::size_t>(slot)]; });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto deadline = Clock::now() + 10s;
  auto all_called = [&] {
    for (const auto& count : calls) {
      if (count.load() == 0) return false;
    }
    return true;
  };
  while (!all_called() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);  // time for a second call, if any
  for (const auto& count : calls) CHECK(count.load() == 1);
}

TEST_CASE("a silent zone fails at the deadline, logged naming the server; the failure is cached for a while") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 300ms);
  StderrCapture log;
  const auto start = Clock::now();
  const auto answers = resolve_and_wait(*resolver, {"2.0.0.127.silent.test", "2.0.0.127.listed.test"}, 5s);
  const auto elapsed = Clock::now() - start;
  CHECK(answers.at("2.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
  CHECK(log.count("warning: DNS list silent.test: lookup of 2.0.0.127.silent.test failed (no answer in time) at " +
                  server.address() + ", counted as not listed") == 1);
  CHECK(answers.at("2.0.0.127.listed.test").kind == DnsAnswer::Kind::kListed);
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 1000ms);
  // c-ares gives up on its own soon after; from then on the failure is
  // answered from the cache (failure_ttl) without waiting again.
  std::this_thread::sleep_for(800ms);
  const auto again = Clock::now();
  CHECK(kind_of(*resolver, "2.0.0.127.silent.test") == DnsAnswer::Kind::kFailed);
  CHECK(Clock::now() - again < 100ms);
  CHECK(resolver->stats().failures >= 1);
}

TEST_CASE("with a silent server pending, other lookups keep their usual latency") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 3000ms);
  auto latency_of = [&](const std::string& name) {
    const auto start = Clock::now();
    CHECK(kind_of(*resolver, name) == DnsAnswer::Kind::kListed);
    return Clock::now() - start;
  };
  Clock::duration baseline{};
  for (int i = 0; i < 10; ++i) baseline = std::max(baseline, latency_of(std::to_string(i) + ".0.0.127.listed.test"));

  Collector silent;
  resolver->resolve({"9.0.0.127.silent.test"}, silent.callback());
  Clock::duration during{};
  for (int i = 20; i < 30; ++i) during = std::max(during, latency_of(std::to_string(i) + ".0.0.127.listed.test"));
  CHECK_FALSE(silent.done());  // the silent lookup was pending all along
  MESSAGE("slowest uncached lookup: alone " << std::chrono::duration_cast<std::chrono::microseconds>(baseline).count()
          << " us, beside a silent one " << std::chrono::duration_cast<std::chrono::microseconds>(during).count() << " us");
  CHECK(during < baseline + 50ms);
  CHECK(during < 100ms);
  REQUIRE(silent.wait(5s));
  CHECK(silent.answers().at("9.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
}

TEST_CASE("a server that stopped answering: every lookup ends at the deadline") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 200ms);
  server.pause();
  const auto start = Clock::now();
  CHECK(kind_of(*resolver, "6.0.0.127.listed.test") == DnsAnswer::Kind::kFailed);
  CHECK(Clock::now() - start < 800ms);
  server.resume();
}

TEST_CASE("resolve_and_wait bounds the wait even before the resolver's deadline") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 3000ms);
  const auto start = Clock::now();
  const auto answers = resolve_and_wait(*resolver, {"7.0.0.127.silent.test"}, 100ms);
  CHECK(Clock::now() - start < 500ms);
  CHECK(answers.at("7.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
}

TEST_CASE("stopping the resolver answers pending lookups as failed") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 5000ms);
  Collector pending;
  resolver->resolve({"8.0.0.127.silent.test"}, pending.callback());
  const auto start = Clock::now();
  resolver.reset();
  CHECK(Clock::now() - start < 1000ms);
  REQUIRE(pending.done());
  CHECK(pending.answers().at("8.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
}

TEST_CASE("an event loop keeps running while a lookup waits; the answer comes back on it") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server, 500ms);
  boost::asio::io_context loop;
  std::atomic<int> ticks{0};
  std::thread::id answered_on;
  DnsAnswers answers;
  boost::asio::steady_timer timer(loop);
  std::function<void()> tick = [&] {
    timer.expires_after(10ms);
    timer.async_wait([&](const boost::system::error_code& error) {
      if (!error && answers.empty()) {
        ++ticks;
        tick();
      }
    });
  };
  tick();
  async_resolve(*resolver, {"3.0.0.127.silent.test"}, loop.get_executor(), [&](DnsAnswers got) {
    answers = std::move(got);
    answered_on = std::this_thread::get_id();
    timer.cancel();
  });
  loop.run_for(3s);
  CHECK(answered_on == std::this_thread::get_id());
  CHECK(answers.at("3.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
  // ~50 ticks of 10 ms during the 500 ms wait on a quiet machine; a loop
  // blocked by the lookup would tick at most once. A loaded CI machine
  // fires timers late, so ask only for clearly more than one.
  CHECK(ticks >= 5);
}

TEST_CASE("a rule set's lookups, resolved through the DNS server, decide") {
  DnsmasqServer server(test_zones());
  auto resolver = resolver_for(server);
  auto rules = RuleSet::parse("dnsrbl \"bl\" listed.test 127.0.0.2\n"
                              "dnsrbl \"wl\" listed.test 127.0.10.0/24\n"
                              "dnsrbl \"quiet\" silent.test 127.0.0.2\n"
                              "racl \"wl\" whitelist dnsrbl \"wl\"\n"
                              "racl \"bl\" blacklist dnsrbl \"bl\"\n"
                              "racl \"quiet\" blacklist dnsrbl \"quiet\"\n",
                              "rules");
  REQUIRE(rules.ok());
  auto decide = [&](const std::string& address) -> std::string {
    Request request;
    request.client_address = address;
    request.recipient = "bob@example.net";
    const auto assessed = rules.value()->assess(request);
    std::vector<std::string> names;
    for (const auto& query : assessed.queries) names.push_back(query.name);
    const auto match = rules.value()->evaluate(request, resolve_and_wait(*resolver, names, 5s));
    return match ? match->rule.id : "none";
  };
  CHECK(decide("127.0.0.2") == "bl");
  CHECK(decide("127.0.0.10") == "wl");
  CHECK(decide("2001:db8::1") == "bl");
  CHECK(decide("127.0.0.99") == "none");  // NXDOMAIN everywhere; silent.test fails: not listed
}

TEST_CASE("past max_pending_lookups a lookup fails at once; cached answers still come") {
  DnsmasqServer server(test_zones());
  AresResolverOptions options;
  options.servers = {server.address()};
  options.timeout = 2000ms;
  options.max_pending_lookups = 1;
  auto resolver = std::move(AresResolver::create(options)).value();
  CHECK(kind_of(*resolver, "2.0.0.127.listed.test") == DnsAnswer::Kind::kListed);  // now cached
  Collector waiting;
  resolver->resolve({"1.0.0.127.silent.test"}, waiting.callback());
  const auto start = Clock::now();
  Collector refused;
  resolver->resolve({"3.0.0.127.listed.test"}, refused.callback());
  CHECK(refused.done());  // answered before resolve() returned
  CHECK(refused.answers().at("3.0.0.127.listed.test").kind == DnsAnswer::Kind::kFailed);
  CHECK(kind_of(*resolver, "2.0.0.127.listed.test") == DnsAnswer::Kind::kListed);
  CHECK(Clock::now() - start < 100ms);
  REQUIRE(waiting.wait(5s));
  CHECK(kind_of(*resolver, "3.0.0.127.listed.test") == DnsAnswer::Kind::kListed);  // room again
}

TEST_CASE("servers(): the servers asked, as c-ares has them (port 53 when none given)") {
  AresResolverOptions options;
  options.servers = {"192.0.2.1", "[2001:db8::1]:5353", "2001:db8::2"};
  const auto resolver = AresResolver::create(options);
  REQUIRE(resolver.ok());
  CHECK(resolver.value()->servers() == "192.0.2.1:53,[2001:db8::1]:5353,[2001:db8::2]:53");
  // resolv.conf's (whatever this machine has): named, never empty.
  const auto from_resolv_conf = AresResolver::create(AresResolverOptions{});
  REQUIRE(from_resolv_conf.ok());
  CHECK(from_resolv_conf.value()->servers().find(":53") != std::string::npos);
}

TEST_CASE("bad servers are refused at creation") {
  AresResolverOptions options;
  options.servers = {"dns.example"};
  const auto resolver = AresResolver::create(options);
  REQUIRE_FALSE(resolver.ok());
  CHECK(resolver.status().message().rfind("bad --dns-server 'dns.example'", 0) == 0);
}

}
