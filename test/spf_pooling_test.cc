// The front ends' SPF step (greylist/spf_pooling.h) on a fake resolver:
// which requests are checked at all (never the null sender, whose identity
// would be the HELO name, nor a sender without a domain), what a verdict
// sets, what is counted and what is logged.
#include "greylist/spf_pooling.h"

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <string>
#include <thread>

#include "support/spf_zone.h"
#include "support/stderr_capture.h"
#include "util/log.h"

using namespace greylist;
using greylist::testing::FakeRecordResolver;
using greylist::testing::SpfZone;
using greylist::testing::StderrCapture;

namespace {

class CountingObserver final : public SpfResultObserver {
 public:
  void on_spf_result(SpfResult result) noexcept override { ++counts[static_cast<std::size_t>(result)]; }
  int count(SpfResult result) const { return counts[static_cast<std::size_t>(result)]; }
  std::array<int, 7> counts{};
};

// pool.test and the HELO name mx.pool.test both authorize 192.0.2.0/24.
SpfZone zone() {
  SpfZone z;
  z.txt("pool.test", {"v=spf1 ip4:192.0.2.0/24 -all"});
  z.txt("mx.pool.test", {"v=spf1 ip4:192.0.2.0/24 -all"});
  z.fail("broken.test", DnsRecordType::kTxt);
  // Passes that authorize (nearly) everybody, and real provider ranges.
  z.txt("plusall.test", {"v=spf1 +all"});
  z.txt("bareall.test", {"v=spf1 ip4:192.0.2.0/24 all"});
  z.txt("half.test", {"v=spf1 ip4:0.0.0.0/1 -all"});
  z.txt("slash8.test", {"v=spf1 ip4:52.0.0.0/8 -all"});
  z.txt("v6all.test", {"v=spf1 ip6:::/0 -all"});
  z.txt("v6provider.test", {"v=spf1 ip6:2001:db8::/36 -all"});
  z.txt("wide-a.test", {"v=spf1 a/4 -all"});
  z.address("wide-a.test", {"52.100.1.1"});
  z.txt("provider.test", {"v=spf1 ip4:52.100.0.0/14 -all"});
  z.txt("customer.test", {"v=spf1 include:provider.test -all"});
  z.txt("allinclude.test", {"v=spf1 include:plusall.test -all"});
  // exists: an allow list keyed by %{i}, a wildcard A record (%{d} names
  // the same for every client), a server that answers every %{i}, and one
  // whose answer for the probe fails.
  z.txt("listed.test", {"v=spf1 exists:%{i}._allow.listed.test -all"});
  z.address("52.101.2.3._allow.listed.test", {"127.0.0.2"});
  z.txt("wildcard.test", {"v=spf1 exists:%{d}.any.example -all"});
  z.address("wildcard.test.any.example", {"127.0.0.2"});
  z.txt("echo.test", {"v=spf1 a:%{i}.echo.example -all"});
  z.address("52.101.2.3.echo.example", {"52.101.2.3"});
  z.address("240.0.0.1.echo.example", {"240.0.0.1"});
  z.txt("flaky.test", {"v=spf1 exists:%{i}.flaky.example -all"});
  z.address("52.101.2.3.flaky.example", {"127.0.0.2"});
  z.fail("240.0.0.1.flaky.example", DnsRecordType::kA);
  // mx and a that name the domain's own hosts.
  z.txt("mxpool.test", {"v=spf1 mx a:out.mxpool.test -all"});
  z.mx("mxpool.test", {"mx1.mxpool.test"});
  z.address("mx1.mxpool.test", {"52.101.2.3"});
  z.address("out.mxpool.test", {"52.101.9.9"});
  // ptr: hosts the domain named itself, and an ISP's customers.
  z.txt("ptrpool.test", {"v=spf1 ptr -all"});
  z.txt("ptrisp.test", {"v=spf1 ptr:isp.example -all"});
  z.ptr("3.2.101.52.in-addr.arpa", {"host.ptrpool.test", "dyn-3.isp.example"});
  z.address("host.ptrpool.test", {"52.101.2.3"});
  z.address("dyn-3.isp.example", {"52.101.2.3"});
  return z;
}

Request request(std::string sender, std::string client = "192.0.2.7") {
  Request r;
  r.client_address = std::move(client);
  r.client_name = "unknown";
  r.helo_name = "mx.pool.test";
  r.sender = std::move(sender);
  r.recipient = "r@dest.test";
  return r;
}

struct Fixture {
  SpfZone records = zone();
  FakeRecordResolver resolver{records};
  SpfChecker checker{resolver, [] {
                       SpfCheckerOptions options;
                       options.probe_passes = true;  // as SpfService makes it
                       return options;
                     }()};
  CountingObserver observer;
  SpfPooling pooling = [this] {
    SpfPooling p;
    p.checker = &checker;
    p.wait = std::chrono::milliseconds(500);
    p.temperror_log = std::make_shared<RateLimitedLog>(std::chrono::seconds(300));
    p.dns_servers = "127.0.0.1:5353";
    p.observer = &observer;
    return p;
  }();
};

}  // namespace

TEST_SUITE("spf_pooling") {

TEST_CASE("null senders, senders without a domain and bad client addresses are not checked") {
  Fixture f;
  // "" is a bounce: SPF would check the HELO identity postmaster@mx.pool.test,
  // which passes here; pooling on it would let any host claiming that HELO
  // name join the pool, so it stays keyed by network.
  for (const std::string sender : {"", "postmaster", "user@", "@"}) {
    CAPTURE(sender);
    Request r = request(sender);
    CHECK_FALSE(spf_pool_identity(f.pooling, r).has_value());
    check_spf_and_wait(f.pooling, r);
    CHECK(r.spf_pass_domain.empty());
  }
  Request unparsable = request("a@pool.test", "not-an-address");
  CHECK_FALSE(spf_pool_identity(f.pooling, unparsable).has_value());
  check_spf_and_wait(f.pooling, unparsable);
  CHECK(unparsable.spf_pass_domain.empty());
  CHECK(f.checker.stats().checks == 0);
  CHECK(f.resolver.queries() == 0);
  CHECK(f.observer.counts == std::array<int, 7>{});

  // The option off: no checker, nothing checked.
  CHECK_FALSE(spf_pool_identity(SpfPooling{}, request("a@pool.test")).has_value());
}

TEST_CASE("the MAIL FROM identity is the sender's domain; a pass sets it, in lower case") {
  Fixture f;
  Request r = request("Someone@Pool.TEST");
  const auto identity = spf_pool_identity(f.pooling, r);
  REQUIRE(identity.has_value());
  CHECK(identity->client.to_string() == "192.0.2.7");
  CHECK(identity->helo == "mx.pool.test");
  check_spf_and_wait(f.pooling, r);
  CHECK(r.spf_pass_domain == "pool.test");
  CHECK(f.observer.count(SpfResult::kPass) == 1);
}

TEST_CASE("any other result keys by network: the pass domain is cleared, the result counted") {
  Fixture f;
  Request r = request("a@pool.test", "203.0.113.5");
  r.spf_pass_domain = "stale.test";  // a previous message's
  check_spf_and_wait(f.pooling, r);
  CHECK(r.spf_pass_domain.empty());
  CHECK(f.observer.count(SpfResult::kFail) == 1);
  Request none = request("a@unknown.test");
  check_spf_and_wait(f.pooling, none);
  CHECK(none.spf_pass_domain.empty());
  CHECK(f.observer.count(SpfResult::kNone) == 1);
}

TEST_CASE("temperrors are logged once per interval, naming the DNS server and counting the rest") {
  Fixture f;
  StderrCapture log;
  for (const char* client : {"192.0.2.7", "192.0.2.8", "192.0.2.9"}) {
    Request r = request("a@broken.test", client);
    check_spf_and_wait(f.pooling, r);
    CHECK(r.spf_pass_domain.empty());
  }
  CHECK(f.observer.count(SpfResult::kTemperror) == 3);
  CHECK(log.count("SPF check of broken.test for 192.0.2.7 failed (") == 1);
  CHECK(log.count(") at 127.0.0.1:5353: keyed by network (--pool-by-spf)") == 1);
  CHECK(log.count("SPF check of") == 1);

  // The interval passed (a 1 s one here): the next line counts the two
  // not logged.
  f.pooling.temperror_log = std::make_shared<RateLimitedLog>(std::chrono::seconds(1));
  for (const char* client : {"192.0.2.10", "192.0.2.11", "192.0.2.12"}) {
    Request r = request("a@broken.test", client);
    check_spf_and_wait(f.pooling, r);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  Request r = request("a@broken.test", "192.0.2.13");
  check_spf_and_wait(f.pooling, r);
  CHECK(log.count("SPF check of broken.test for 192.0.2.10 failed (") == 1);
  CHECK(log.count("SPF check of broken.test for 192.0.2.13 failed (") == 1);
  CHECK(log.count("keyed by network (--pool-by-spf) (2 similar messages suppressed)") == 1);
  CHECK(log.count("SPF check of") == 3);
}

TEST_CASE("a pass that authorizes (nearly) everybody is no pool: keyed by network, logged") {
  Fixture f;
  StderrCapture log;
  set_log_verbosity(true, false);
  struct Case {
    const char* sender;
    const char* client;
    const char* why;
  };
  for (const Case c : {Case{"a@plusall.test", "52.101.2.3", "+all: not a sender pool"},
                       Case{"a@bareall.test", "52.101.2.4", "all: not a sender pool"},
                       Case{"a@half.test", "52.101.2.5", "ip4:0.0.0.0/1: not a sender pool"},
                       Case{"a@v6all.test", "2001:db8::5", "ip6:::/0: not a sender pool"},
                       Case{"a@wide-a.test", "52.101.2.6", "a/4: not a sender pool"},
                       Case{"a@allinclude.test", "52.101.2.7", "+all: not a sender pool"}}) {
    CAPTURE(c.sender);
    Request r = request(c.sender, c.client);
    r.spf_pass_domain = "stale.test";
    check_spf_and_wait(f.pooling, r);
    CHECK(r.spf_pass_domain.empty());
    CHECK(log.count(std::string(c.sender).substr(2) + " for " + c.client + " (" + c.why + ")") == 1);
  }
  set_log_verbosity(false, false);
  // Still a pass for the metrics (and whitelist-check).
  CHECK(f.observer.count(SpfResult::kPass) == 6);
  CHECK(log.count("SPF pass of plusall.test for 52.101.2.3 (+all: not a sender pool): keyed by "
                  "network (--pool-by-spf)") == 1);
}

TEST_CASE("a pass within a provider's range pools, directly or through include:") {
  Fixture f;
  for (const auto& [sender, client, domain] :
       {std::array<const char*, 3>{"a@provider.test", "52.101.2.3", "provider.test"},
        std::array<const char*, 3>{"a@customer.test", "52.101.2.3", "customer.test"},
        std::array<const char*, 3>{"a@slash8.test", "52.1.2.3", "slash8.test"},
        std::array<const char*, 3>{"a@v6provider.test", "2001:db8::5", "v6provider.test"}}) {
    CAPTURE(sender);
    Request r = request(sender, client);
    check_spf_and_wait(f.pooling, r);
    CHECK(r.spf_pass_domain == domain);
  }
}

TEST_CASE("a pass through a wildcard is no pool; an allow list, mx, a and the domain's ptr are") {
  Fixture f;
  StderrCapture log;
  set_log_verbosity(true, false);
  struct Case {
    const char* sender;
    const char* why;  // "": a pool
  };
  for (const Case c : {Case{"a@listed.test", ""}, Case{"a@mxpool.test", ""}, Case{"a@ptrpool.test", ""},
                       Case{"a@wildcard.test", "exists:%{d}.any.example: passes a probe address too"},
                       Case{"a@echo.test", "a:%{i}.echo.example: passes a probe address too"},
                       Case{"a@flaky.test", "exists:%{i}.flaky.example: probe unanswered"},
                       Case{"a@ptrisp.test", "ptr:isp.example: names outside ptrisp.test"}}) {
    CAPTURE(c.sender);
    Request r = request(c.sender, "52.101.2.3");
    check_spf_and_wait(f.pooling, r);
    const std::string domain = std::string(c.sender).substr(2);
    CHECK(r.spf_pass_domain == (*c.why == '\0' ? domain : std::string()));
    if (*c.why != '\0') {
      CHECK(log.count("SPF pass of " + domain + " for 52.101.2.3 (" + c.why + ": not a sender pool)") == 1);
    }
  }
  set_log_verbosity(false, false);
  CHECK(f.observer.count(SpfResult::kPass) == 7);
  // The probes (not ptr's): listed, mxpool, wildcard, echo, flaky.
  CHECK(f.checker.stats().probes == 5);
}

TEST_CASE("spf_pass_not_a_pool: the prefix limits, and results other than pass") {
  SpfVerdict v;
  v.result = SpfResult::kPass;
  v.matched = SpfMatch{SpfMechanism::kIp4, 7, false, "ip4:0.0.0.0/7", "", ""};
  CHECK(spf_pass_not_a_pool(v) == std::optional<std::string>("ip4:0.0.0.0/7: not a sender pool"));
  v.matched.prefix = 8;
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.matched = SpfMatch{SpfMechanism::kIp6, 23, true, "ip6:2000::/23", "", ""};
  CHECK(spf_pass_not_a_pool(v).has_value());
  v.matched.prefix = 24;
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.matched = SpfMatch{SpfMechanism::kMx, 20, true, "mx//20", "example.com", "example.com"};
  CHECK(spf_pass_not_a_pool(v).has_value());
  v.matched.prefix = 24;
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());  // not probed
  v.probe = SpfResult::kFail;
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.probe = SpfResult::kPermerror;
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.probe = SpfResult::kPass;
  CHECK(spf_pass_not_a_pool(v) == std::optional<std::string>("mx//20: passes a probe address too: not a sender pool"));
  v.probe = SpfResult::kTemperror;
  CHECK(spf_pass_not_a_pool(v).has_value());
  v.probe.reset();
  v.matched = SpfMatch{SpfMechanism::kPtr, -1, false, "ptr", "example.com", "example.com"};
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.matched.target = "hosts.example.com";
  CHECK_FALSE(spf_pass_not_a_pool(v).has_value());
  v.matched.target = "example.net";
  CHECK(spf_pass_not_a_pool(v).has_value());
  v.matched.target = "com";  // above the record's domain
  CHECK(spf_pass_not_a_pool(v).has_value());
  v.result = SpfResult::kNeutral;
  CHECK(spf_pass_not_a_pool(v) == std::optional<std::string>("neutral: not a pass"));
}

}  // TEST_SUITE
