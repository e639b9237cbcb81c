// The policy front end with rules that consult DNS lists, against a real
// DNS server on loopback (dnsmasq): the lookups never block the event
// loop, a silent list counts as "not listed" after --dns-timeout,
// pipelined requests stay in order, a listed client is rejected.
#include "policy/policy_dns_step.h"

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <optional>

#include "greylist/ares_resolver.h"
#include "policy/policy_server.h"
#include "store/memory_store.h"
#include "support/dnsmasq_server.h"
#include "support/fake_clock.h"
#include "support/line_client.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::DnsmasqServer;
using greylist::testing::DnsmasqZones;
using greylist::testing::LineClient;
using Steady = std::chrono::steady_clock;

namespace {

constexpr auto kDnsTimeout = 600ms;

// Mail to @dns.example consults the silent list; a client listed in
// listed.test is rejected; everything else needs no DNS.
constexpr const char* kRules =
    "dnsrbl \"silent\" silent.test 127.0.0.2\n"
    "dnsrbl \"bl\" listed.test 127.0.0.2\n"
    "racl blacklist rcpt @dns.example dnsrbl \"silent\"\n"
    "racl \"listed\" blacklist addr 127.0.0.0/8 dnsrbl \"bl\"\n";

DnsmasqZones zones() {
  DnsmasqZones z;
  z.records = {{"2.0.0.127.listed.test", "127.0.0.2"}};
  z.local_zones = {"listed.test"};
  z.silent_zones = {"silent.test"};
  return z;
}

std::string rcpt(const std::string& recipient, const std::string& client = "192.0.2.7") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=unknown\nsender=s@example.test\nrecipient=" + recipient + "\n";
}

std::string greylisted(const std::string& domain) {
  return "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/" + domain +
         ".html\n\n";
}

class CountingObserver final : public DnsListObserver {
 public:
  void on_dns_list_answer(std::string_view list, DnsAnswer::Kind kind) noexcept override {
    if (list == "silent" && kind == DnsAnswer::Kind::kFailed) ++silent_failed;
    if (list == "bl" && kind == DnsAnswer::Kind::kListed) ++listed;
    if (list == "bl" && kind == DnsAnswer::Kind::kNotListed) ++not_listed;
  }
  std::atomic<int> silent_failed{0}, listed{0}, not_listed{0};
};

// A policy server with kRules and a resolver asking `dns`, on ONE thread:
// a lookup that blocked would stall every connection. The resolver is
// destroyed first (its pending callbacks post to the server's executors).
struct Fixture {
  DnsmasqServer dns{zones()};
  MemoryStore store;
  testing::FakeClock clock{1'795'590'188};
  Greylister greylister{[] {
                          GreylistConfig config;
                          config.dynamic_delay = 0;
                          return config;
                        }(),
                        store, clock};
  CountingObserver observer;
  std::unique_ptr<PolicyServer> server;
  std::future<void> finished;
  std::unique_ptr<AresResolver> resolver;

  Fixture() {
    auto rules = RuleSet::parse(kRules, "rules");
    REQUIRE_MESSAGE(rules.ok(), rules.status().message());
    greylister.set_rules(rules.value());
    AresResolverOptions options;
    options.servers = {dns.address()};
    options.timeout = kDnsTimeout;
    auto created = AresResolver::create(options);
    REQUIRE_MESSAGE(created.ok(), created.status().message());
    resolver = std::move(created).value();
    PolicySettings settings;
    SocketSpec spec;
    spec.kind = SocketSpec::Kind::kInet;
    spec.host = "127.0.0.1";
    spec.port = 0;
    settings.sockets = {spec};
    settings.threads = 1;
    settings.common.hostname = "test.host";
    settings.common.dns = DnsLists{resolver.get(), &observer, kDnsTimeout};
    auto opened = PolicyServer::open(std::move(settings), greylister, clock);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    server = std::move(opened).value();
    finished = std::async(std::launch::async, [this] { server->run(); });
  }
  ~Fixture() {
    resolver.reset();
    server->stop();
    if (finished.wait_for(10s) != std::future_status::ready) std::abort();
  }
  int port() const {
    const std::string address = server->bound_addresses().at(0);
    return std::stoi(address.substr(address.rfind(':') + 1));
  }
};

}  // namespace

TEST_SUITE("policy_dns_step") {

TEST_CASE("a silent DNS list delays only its own request, answered after the timeout as not listed") {
  Fixture f;
  LineClient waiting(f.port());
  LineClient other(f.port());
  REQUIRE(waiting.ok());
  REQUIRE(other.ok());
  // The usual latency of a request without DNS, on this machine now.
  const auto usual_start = Steady::now();
  REQUIRE(other.policy(rcpt("u@example.org")) == greylisted("example.org"));
  const auto usual = Steady::now() - usual_start;

  const auto sent = Steady::now();
  REQUIRE(waiting.send(rcpt("u@dns.example") + "\n"));
  std::this_thread::sleep_for(100ms);  // the lookup is under way
  const auto beside_start = Steady::now();
  CHECK(other.policy(rcpt("v@example.org")) == greylisted("example.org"));
  const auto beside = Steady::now() - beside_start;
  CHECK(beside < 250ms);
  MESSAGE("a request without DNS: " << std::chrono::duration_cast<std::chrono::microseconds>(usual).count()
          << " us alone, " << std::chrono::duration_cast<std::chrono::microseconds>(beside).count()
          << " us beside a silent lookup");

  // Not listed once the list timed out: greylisted, not rejected.
  const auto reply = waiting.read_until("\n\n", 5s);
  const auto waited = Steady::now() - sent;
  CHECK(reply == greylisted("dns.example"));
  CHECK(waited >= kDnsTimeout - 50ms);
  CHECK(waited < kDnsTimeout + 1500ms);
  CHECK(f.observer.silent_failed == 1);
}

TEST_CASE("pipelined requests, one waiting for DNS, are answered in order") {
  Fixture f;
  LineClient client(f.port());
  REQUIRE(client.ok());
  REQUIRE(client.send(rcpt("u@dns.example") + "\n" + rcpt("u@example.org") + "\n" +
                      rcpt("w@dns.example") + "\n" + rcpt("w@example.org") + "\n"));
  std::string replies;
  for (int i = 0; i < 4; ++i) {
    const auto reply = client.read_until("\n\n", 5s);
    REQUIRE(reply);
    replies += *reply;
  }
  CHECK(replies == greylisted("dns.example") + greylisted("example.org") +
                       greylisted("dns.example") + greylisted("example.org"));
}

TEST_CASE("a listed client is rejected with 550 5.7.1; an unlisted one is greylisted") {
  Fixture f;
  LineClient client(f.port());
  REQUIRE(client.ok());
  CHECK(client.policy(rcpt("u@example.org", "127.0.0.2")) ==
        "action=550 5.7.1 Rejected by local policy (rule listed)\n\n");
  CHECK(client.policy(rcpt("u@example.org", "127.0.0.3")) == greylisted("example.org"));
  CHECK(f.observer.listed == 1);
  CHECK(f.observer.not_listed == 1);
  CHECK(f.store.count(Table::kTriplets).value() == 1);  // the rejection wrote nothing
}

}  // TEST_SUITE
