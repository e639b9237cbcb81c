// AresRecordResolver and SpfChecker against a real DNS server on loopback
// (dnsmasq with --txt-record, --mx-host, --ptr-record, started and stopped
// by each test): every record type SPF needs, TTLs and the cache, silent
// servers, and SPF verdicts end to end over c-ares.
#include "greylist/ares_record_resolver.h"
#include "greylist/spf_checker.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "support/dnsmasq_server.h"
#include "support/stderr_capture.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::DnsmasqServer;
using greylist::testing::DnsmasqZones;
using greylist::testing::StderrCapture;
using Clock = std::chrono::steady_clock;

namespace {

// A sender domain whose SPF record includes a provider's, which covers two
// networks and its outbound hosts by name and by MX.
DnsmasqZones spf_zones() {
  DnsmasqZones zones;
  zones.txt_records = {
      {"example.test", {"v=spf1 include:_spf.provider.test ~all"}},
      {"example.test", {"site-verification=abc"}},
      {"_spf.provider.test", {"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:1::/48 ", "a:out.provider.test mx -all"}},
      {"forged.test", {"v=spf1 include:_spf.provider.test -all"}},
      {"slow.test", {"v=spf1 include:_spf.silent.test -all"}},
  };
  zones.records = {{"out.provider.test", "198.51.100.7"},
                   {"mx1.provider.test", "203.0.113.25"},
                   {"mx1.provider.test", "2001:db8:2::25"}};
  zones.mx_records = {{"provider.test", "mx1.provider.test"}, {"_spf.provider.test", "mx1.provider.test"}};
  zones.ptr_records = {{"9.100.51.198.in-addr.arpa", "relay.provider.test"},
                       {"10.100.51.198.in-addr.arpa", "one.provider.test"},
                       {"10.100.51.198.in-addr.arpa", "two.provider.test"}};
  zones.local_zones = {"example.test", "provider.test", "forged.test", "slow.test"};
  zones.silent_zones = {"silent.test"};
  zones.ttl = 300;
  return zones;
}

std::unique_ptr<AresRecordResolver> resolver_for(const DnsmasqServer& server,
                                                 std::chrono::milliseconds timeout = 2000ms) {
  AresResolverOptions options;
  options.servers = {server.address()};
  options.timeout = timeout;
  auto resolver = AresRecordResolver::create(options);
  REQUIRE_MESSAGE(resolver.ok(), resolver.status().message());
  return std::move(resolver).value();
}

// resolve() and wait (bounded) for the records.
std::vector<DnsRecords> lookup(DnsRecordResolver& resolver, std::vector<DnsRecordQuery> queries,
                               std::chrono::milliseconds deadline = 3000ms) {
  std::mutex mutex;
  std::condition_variable ready;
  std::optional<std::vector<DnsRecords>> answers;
  resolver.resolve(std::move(queries), Clock::now() + deadline, [&](std::vector<DnsRecords> records) {
    std::lock_guard lock(mutex);
    answers = std::move(records);
    ready.notify_all();
  });
  std::unique_lock lock(mutex);
  REQUIRE(ready.wait_for(lock, 5s, [&] { return answers.has_value(); }));
  return *answers;
}

SpfIdentity identity(const std::string& client, const std::string& sender) {
  return SpfIdentity::mail_from(*IpAddress::parse(client), sender, "mx.sender.test");
}

}  // namespace

TEST_SUITE("ares_record_resolver") {

TEST_CASE("TXT, A, AAAA, MX and PTR records, with their TTL") {
  DnsmasqServer server(spf_zones());
  auto resolver = resolver_for(server);
  const auto records = lookup(*resolver, {{"_spf.provider.test", DnsRecordType::kTxt},
                                          {"example.test", DnsRecordType::kTxt},
                                          {"mx1.provider.test", DnsRecordType::kA},
                                          {"MX1.Provider.Test.", DnsRecordType::kAaaa},
                                          {"provider.test", DnsRecordType::kMx},
                                          {"9.100.51.198.in-addr.arpa", DnsRecordType::kPtr}});
  REQUIRE(records.size() == 6);
  for (const auto& answer : records) {
    CHECK(answer.kind == DnsRecords::Kind::kFound);
    CHECK(answer.ttl > 0s);
    CHECK(answer.ttl <= 300s);
  }
  // The strings of one TXT record are joined as they are (RFC 7208 §3.3).
  REQUIRE(records[0].texts.size() == 1);
  CHECK(records[0].texts[0] == "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:1::/48 a:out.provider.test mx -all");
  CHECK(records[1].texts.size() == 2);
  REQUIRE(records[2].addresses.size() == 1);
  CHECK(records[2].addresses[0] == *IpAddress::parse("203.0.113.25"));
  REQUIRE(records[3].addresses.size() == 1);
  CHECK(records[3].addresses[0] == *IpAddress::parse("2001:db8:2::25"));
  CHECK(records[4].texts == std::vector<std::string>{"mx1.provider.test"});
  REQUIRE(records[5].texts.size() == 1);
  CHECK(records[5].texts[0] == "relay.provider.test");
  // Several PTR names: each once.
  auto names = lookup(*resolver, {{"10.100.51.198.in-addr.arpa", DnsRecordType::kPtr}})[0].texts;
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"one.provider.test", "two.provider.test"});
}

TEST_CASE("no such name and no such record are kNone; answers are cached") {
  DnsmasqServer server(spf_zones());
  auto resolver = resolver_for(server);
  const auto records = lookup(*resolver, {{"nothing.example.test", DnsRecordType::kTxt},
                                          {"out.provider.test", DnsRecordType::kMx},
                                          {"out.provider.test", DnsRecordType::kAaaa}});
  for (const auto& answer : records) CHECK(answer.kind == DnsRecords::Kind::kNone);
  const auto first = lookup(*resolver, {{"example.test", DnsRecordType::kTxt}});
  const auto again = lookup(*resolver, {{"example.test", DnsRecordType::kTxt}});
  CHECK(again[0].texts == first[0].texts);
  CHECK(server.queries_for("example.test", "TXT") == 1);
  CHECK(resolver->stats().cache_hits >= 1);
  lookup(*resolver, {{"nothing.example.test", DnsRecordType::kTxt}});
  CHECK(server.queries_for("nothing.example.test", "TXT") == 1);
}

TEST_CASE("a silent server: kFailed by the caller's deadline, logged naming the server, other names unaffected") {
  DnsmasqServer server(spf_zones());
  auto resolver = resolver_for(server, 5000ms);
  StderrCapture log;
  const auto start = Clock::now();
  const auto records = lookup(*resolver, {{"_spf.silent.test", DnsRecordType::kTxt},
                                          {"example.test", DnsRecordType::kTxt}}, 300ms);
  const auto took = Clock::now() - start;
  CHECK(records[0].kind == DnsRecords::Kind::kFailed);
  CHECK(records[1].kind == DnsRecords::Kind::kFound);
  CHECK(took >= 250ms);
  CHECK(took < 2s);
  CHECK(log.count("warning: SPF DNS: lookup of TXT _spf.silent.test failed (no answer in time) at " +
                  server.address()) == 1);
}

TEST_CASE("concurrent lookups of one record share one query; every callback runs once") {
  // A lookup queued while the first one's answer came back once missed the
  // cache and asked again (seen under ThreadSanitizer's slowdown).
  DnsmasqServer server(spf_zones());
  auto resolver = resolver_for(server);
  constexpr int kThreads = 4;
  constexpr int kLookups = 50;
  std::vector<std::atomic<int>> calls(kThreads * kLookups);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLookups; ++i) {
        const auto slot = static_cast<std::size_t>(t * kLookups + i);
        resolver->resolve({{"example.test", DnsRecordType::kTxt}}, Clock::now() + 3s,
                          [&calls, slot](std::vector<DnsRecords> records) {
                            const bool found =
                                records.size() == 1 && records[0].kind == DnsRecords::Kind::kFound;
                            if (found) ++calls[slot];
                          });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto deadline = Clock::now() + 5s;
  const auto all_called = [&calls] {
    return std::all_of(calls.begin(), calls.end(),
                       [](const std::atomic<int>& n) { return n.load() >= 1; });
  };
  while (!all_called() && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  CHECK(std::all_of(calls.begin(), calls.end(),
                    [](const std::atomic<int>& n) { return n.load() == 1; }));
  CHECK(server.queries_for("example.test", "TXT") == 1);
  CHECK(resolver->stats().queries == 1);
}

TEST_CASE("SPF over c-ares: authorized networks pass, others fail, a silent include is temperror") {
  DnsmasqServer server(spf_zones());
  auto resolver = resolver_for(server);
  SpfCheckerOptions options;
  options.timeout = 500ms;
  SpfChecker checker(*resolver, options);
  struct Case {
    const char* client;
    const char* sender;
    SpfResult expected;
  };
  const Case cases[] = {
      {"192.0.2.17", "alice@example.test", SpfResult::kPass},       // ip4
      {"2001:db8:1::99", "alice@example.test", SpfResult::kPass},   // ip6
      {"198.51.100.7", "alice@example.test", SpfResult::kPass},     // a:out.provider.test
      {"203.0.113.25", "alice@example.test", SpfResult::kPass},     // mx of _spf.provider.test
      {"2001:db8:2::25", "alice@example.test", SpfResult::kPass},   // the MX host's AAAA
      {"203.0.113.99", "alice@example.test", SpfResult::kSoftfail}, // ~all
      {"203.0.113.99", "bot@forged.test", SpfResult::kFail},
      {"192.0.2.17", "alice@nothing.example.test", SpfResult::kNone},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.client));
    CAPTURE(std::string(c.sender));
    const SpfVerdict verdict = checker.check_and_wait(identity(c.client, c.sender), 3s);
    CAPTURE(verdict.reason);
    CHECK(verdict.result == c.expected);
  }
  const auto start = Clock::now();
  const SpfVerdict slow = checker.check_and_wait(identity("192.0.2.17", "alice@slow.test"), 3s);
  CHECK(slow.result == SpfResult::kTemperror);
  CHECK(Clock::now() - start < 1500ms);
  // A retry from the same client: the cached verdict, no DNS.
  const int asked = server.queries_for("example.test", "TXT");
  CHECK(checker.check_and_wait(identity("192.0.2.17", "bob@example.test"), 3s).result == SpfResult::kPass);
  CHECK(server.queries_for("example.test", "TXT") == asked);
}

}  // TEST_SUITE
