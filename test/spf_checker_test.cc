// SpfChecker on a fake DnsRecordResolver: verdicts cached per (domain,
// client) and for how long, what is never cached, answers arriving later
// on another call stack, the evaluation's deadline, and a milter thread's
// bounded wait.
#include "greylist/spf_checker.h"

#include <doctest/doctest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>

#include "spf/asio_spf_check.h"
#include "support/spf_zone.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::FakeRecordResolver;
using greylist::testing::SpfZone;

namespace {

SpfZone zone() {
  SpfZone zone;
  zone.txt("example.com", {"v=spf1 include:_spf.example.com -all"}, 3600)
      .txt("_spf.example.com", {"v=spf1 ip4:192.0.2.0/24 -all"}, 600)
      .txt("macro.example.com", {"v=spf1 exists:%{l}.users.example.com -all"})
      .fail("down.example.com", DnsRecordType::kTxt);
  return zone;
}

SpfIdentity identity(const std::string& client, const std::string& sender = "alice@example.com") {
  return SpfIdentity::mail_from(*IpAddress::parse(client), sender, "mx.example.com");
}

// The verdict of a check whose callback must have run before check() returned.
SpfVerdict check_now(SpfChecker& checker, const SpfIdentity& who) {
  std::optional<SpfVerdict> verdict;
  checker.check(who, [&](SpfVerdict v) { verdict = std::move(v); });
  REQUIRE(verdict);
  return *verdict;
}

}  // namespace

TEST_SUITE("spf_checker") {

TEST_CASE("a verdict is cached per domain and client address") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfChecker checker(resolver);
  CHECK(check_now(checker, identity("192.0.2.1")).result == SpfResult::kPass);
  const std::size_t asked = resolver.queries();
  CHECK(asked == 2);
  // Another sender of the domain, same client: the cached verdict.
  const SpfVerdict again = check_now(checker, identity("192.0.2.1", "bob@EXAMPLE.com"));
  CHECK(again.result == SpfResult::kPass);
  CHECK(resolver.queries() == asked);
  CHECK(checker.stats().cache_hits == 1);
  // Another client: evaluated.
  CHECK(check_now(checker, identity("203.0.113.1")).result == SpfResult::kFail);
  CHECK(resolver.queries() == asked + 2);
  CHECK(checker.stats().cached == 2);
}

TEST_CASE("temperror and verdicts that used the local part are not cached") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfChecker checker(resolver);
  CHECK(check_now(checker, identity("192.0.2.1", "a@down.example.com")).result == SpfResult::kTemperror);
  CHECK(check_now(checker, identity("192.0.2.1", "a@down.example.com")).result == SpfResult::kTemperror);
  const SpfVerdict macro = check_now(checker, identity("192.0.2.1", "a@macro.example.com"));
  CHECK(macro.result == SpfResult::kFail);
  CHECK(macro.identity_macros);
  check_now(checker, identity("192.0.2.1", "b@macro.example.com"));
  CHECK(checker.stats().cache_hits == 0);
  CHECK(checker.stats().cached == 0);
  CHECK(resolver.queries() == 6);
}

TEST_CASE("a cached verdict expires after its TTL, clamped to max_ttl") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfCheckerOptions options;
  options.min_ttl = 1s;
  options.max_ttl = 1s;  // the records say 600 s
  SpfChecker checker(resolver, options);
  check_now(checker, identity("192.0.2.1"));
  check_now(checker, identity("192.0.2.1"));
  CHECK(resolver.queries() == 2);
  std::this_thread::sleep_for(1100ms);
  check_now(checker, identity("192.0.2.1"));
  CHECK(resolver.queries() == 4);
}

TEST_CASE("answers that come later drive the evaluation on, one round at a time") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfChecker checker(resolver);
  resolver.hold(true);
  std::optional<SpfVerdict> verdict;
  const auto before = std::chrono::steady_clock::now();
  checker.check(identity("192.0.2.1"), [&](SpfVerdict v) { verdict = std::move(v); });
  CHECK_FALSE(verdict);
  CHECK(resolver.release() == 1);  // TXT example.com; asks for the include's
  CHECK_FALSE(verdict);
  CHECK(resolver.release() == 1);
  REQUIRE(verdict);
  CHECK(verdict->result == SpfResult::kPass);
  CHECK(resolver.release() == 0);
  // Every round was given the evaluation's deadline.
  for (const auto deadline : resolver.deadlines()) {
    CHECK(deadline > before);
    CHECK(deadline <= std::chrono::steady_clock::now() + SpfCheckerOptions{}.timeout);
  }
  CHECK(checker.stats().dns_rounds == 2);
}

TEST_CASE("past the deadline the verdict is temperror, DNS timeout") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfCheckerOptions options;
  options.timeout = 50ms;
  SpfChecker checker(resolver, options);
  resolver.hold(true);
  std::optional<SpfVerdict> verdict;
  checker.check(identity("192.0.2.1"), [&](SpfVerdict v) { verdict = std::move(v); });
  std::this_thread::sleep_for(80ms);
  resolver.release();
  REQUIRE(verdict);
  CHECK(verdict->result == SpfResult::kTemperror);
  CHECK(verdict->reason == "DNS timeout (50 ms)");
  CHECK(checker.stats().timeouts == 1);
  // Failed answers (a resolver at its deadline) are temperror too.
  verdict.reset();
  checker.check(identity("192.0.2.2"), [&](SpfVerdict v) { verdict = std::move(v); });
  resolver.expire();
  REQUIRE(verdict);
  CHECK(verdict->result == SpfResult::kTemperror);
}

TEST_CASE("check_and_wait waits at most its time; the late verdict goes nowhere") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  auto checker = std::make_unique<SpfChecker>(resolver);
  resolver.hold(true);
  const auto start = std::chrono::steady_clock::now();
  const SpfVerdict verdict = checker->check_and_wait(identity("192.0.2.1"), 100ms);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(verdict.result == SpfResult::kTemperror);
  CHECK(verdict.reason == "no verdict in time (100 ms)");
  CHECK(waited >= 100ms);
  CHECK(waited < 2s);
  // The checker may go before the answers come.
  checker.reset();
  resolver.hold(false);
  CHECK(resolver.release() == 1);
  resolver.release();
}

TEST_CASE("check_and_wait answers at once from the cache") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfChecker checker(resolver);
  CHECK(checker.check_and_wait(identity("192.0.2.1"), 1s).result == SpfResult::kPass);
  CHECK(checker.check_and_wait(identity("192.0.2.1"), 0ms).result == SpfResult::kPass);
}

TEST_CASE("probe_passes: a pass through exists, a or mx is checked again for the probe address") {
  SpfZone records = zone();
  records.txt("allow.example.com", {"v=spf1 exists:%{i}._allow.example.com -all"})
      .address("192.0.2.1._allow.example.com", {"127.0.0.2"})
      .address("192.0.2.2._allow.example.com", {"127.0.0.2"})
      .txt("wild.example.com", {"v=spf1 exists:%{i}.echo.example.net -all"})
      .address("192.0.2.1.echo.example.net", {"127.0.0.2"})
      .address("240.0.0.1.echo.example.net", {"127.0.0.2"}, 120);
  FakeRecordResolver resolver(records);
  SpfCheckerOptions options;
  options.probe_passes = true;
  SpfChecker checker(resolver, options);
  const SpfVerdict listed = check_now(checker, identity("192.0.2.1", "a@allow.example.com"));
  CHECK(listed.result == SpfResult::kPass);
  CHECK(listed.probe == SpfResult::kFail);
  CHECK(checker.stats().probes == 1);
  // Another client of the domain: the probe's verdict comes from the cache.
  CHECK(check_now(checker, identity("192.0.2.2", "a@allow.example.com")).probe == SpfResult::kFail);
  CHECK(checker.stats().probes == 2);
  CHECK(checker.stats().cache_hits == 1);
  // A server that answers any %{i}: the probe address passes too; the verdict keeps the
  // smaller TTL of the two checks.
  const SpfVerdict wild = check_now(checker, identity("192.0.2.1", "a@wild.example.com"));
  CHECK(wild.result == SpfResult::kPass);
  CHECK(wild.probe == SpfResult::kPass);
  CHECK(wild.ttl == 120s);
  // An ip4 pass, and anything but a pass, is not probed.
  CHECK_FALSE(check_now(checker, identity("192.0.2.1")).probe.has_value());
  CHECK_FALSE(check_now(checker, identity("203.0.113.1", "a@allow.example.com")).probe.has_value());
  CHECK(checker.stats().probes == 3);
  // The option off (the default): no probe.
  SpfChecker plain(resolver);
  CHECK_FALSE(check_now(plain, identity("192.0.2.1", "a@wild.example.com")).probe.has_value());
  CHECK(plain.stats().probes == 0);
}

TEST_CASE("a probe ends by the check's deadline; a probe cut by it is not cached") {
  SpfZone records = zone();
  records.txt("allow.example.com", {"v=spf1 exists:%{i}._allow.example.com -all"})
      .address("192.0.2.1._allow.example.com", {"127.0.0.2"});
  FakeRecordResolver resolver(records);
  SpfCheckerOptions options;
  options.timeout = 100ms;
  options.probe_passes = true;
  SpfChecker checker(resolver, options);
  resolver.hold(true);
  std::optional<SpfVerdict> verdict;
  const auto started = std::chrono::steady_clock::now();
  checker.check(identity("192.0.2.1", "a@allow.example.com"), [&](SpfVerdict v) { verdict = std::move(v); });
  CHECK(resolver.release() == 1);  // TXT
  CHECK(resolver.release() == 1);  // A 192.0.2.1._allow...: a pass; the probe asks TXT
  CHECK_FALSE(verdict);
  CHECK(checker.stats().probes == 1);
  const auto deadlines = resolver.deadlines();
  REQUIRE(deadlines.size() == 3);
  CHECK(deadlines[2] == deadlines[0]);
  std::this_thread::sleep_for(options.timeout - (std::chrono::steady_clock::now() - started) + 20ms);
  CHECK(resolver.release() == 1);  // the probe's TXT, past the deadline
  REQUIRE(verdict);
  CHECK(verdict->result == SpfResult::kPass);
  CHECK(verdict->probe == SpfResult::kTemperror);
  CHECK(checker.stats().timeouts == 1);
  // Neither the verdict nor the probe's was cached: asked again.
  resolver.hold(false);
  CHECK(check_now(checker, identity("192.0.2.1", "a@allow.example.com")).probe == SpfResult::kFail);
  CHECK(checker.stats().cache_hits == 0);
}

TEST_CASE("async_check_spf: the verdict is handled on the event loop, never inside check()") {
  const SpfZone records = zone();
  FakeRecordResolver resolver(records);
  SpfChecker checker(resolver);
  boost::asio::io_context loop;
  std::optional<SpfVerdict> verdict;
  std::thread::id handled_on;
  // Even a verdict ready at once (a sync resolver) waits for the loop.
  async_check_spf(checker, identity("192.0.2.1"), loop.get_executor(), [&](SpfVerdict v) {
    verdict = std::move(v);
    handled_on = std::this_thread::get_id();
  });
  CHECK_FALSE(verdict);
  // Answers that come on another thread are posted back to the loop too.
  resolver.hold(true);
  std::optional<SpfVerdict> later;
  async_check_spf(checker, identity("203.0.113.1"), loop.get_executor(), [&](SpfVerdict v) { later = std::move(v); });
  std::atomic<bool> stop{false};
  std::thread answering([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {
      resolver.release();
      std::this_thread::sleep_for(1ms);
    }
  });
  for (int i = 0; i < 5000 && !later; ++i) {
    loop.restart();  // run_for() stops the loop whenever it runs out of work
    loop.run_for(1ms);
    if (!later) std::this_thread::sleep_for(1ms);
  }
  stop = true;
  answering.join();
  REQUIRE(verdict);
  CHECK(verdict->result == SpfResult::kPass);
  CHECK(handled_on == std::this_thread::get_id());
  REQUIRE(later);
  CHECK(later->result == SpfResult::kFail);
}

}  // TEST_SUITE
