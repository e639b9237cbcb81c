// --pool-by-spf through the policy front end, against a real DNS server on
// loopback (dnsmasq serving SPF TXT records): a retry from another network
// the sender's domain authorizes passes after the delay; an address it does
// not authorize, a softfail, the null sender and a DNS timeout are keyed by
// network; the check never stalls the one event-loop thread.
#include <doctest/doctest.h>

#include <optional>

#include "greylist/key_layout.h"
#include "greylist/triplet.h"
#include "policy/policy_server.h"
#include "spf/spf_service.h"
#include "store/memory_store.h"
#include "support/dnsmasq_server.h"
#include "support/fake_clock.h"
#include "support/line_client.h"
#include "support/loopback_policy_server.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::DnsmasqServer;
using greylist::testing::DnsmasqZones;
using greylist::testing::LineClient;

namespace {

constexpr auto kDnsTimeout = 600ms;

DnsmasqZones zones() {
  DnsmasqZones z;
  z.txt_records = {{"pool.test", {"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"}},
                   {"soft.test", {"v=spf1 ip4:203.0.113.0/24 ~all"}}};
  z.local_zones = {"pool.test", "soft.test"};
  z.silent_zones = {"silent.test"};
  return z;
}

std::string rcpt(const std::string& client, const std::string& sender,
                 const std::string& recipient = "r@example.org") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=unknown\nhelo_name=mx.example\nsender=" + sender +
         "\nrecipient=" + recipient + "\n";
}

constexpr const char* kGreylisted =
    "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/example.org.html\n\n";

bool passed_after_delay(const std::optional<std::string>& reply) {
  return reply && reply->starts_with("action=PREPEND X-Greylist: delayed ");
}

// A policy server on ONE thread with --pool-by-spf (and --pool-by-domain
// off), its SPF checker asking `dns`. The checker's resolver is stopped
// before the server (its pending callbacks post to the server's executor).
struct Fixture {
  DnsmasqServer dns{zones()};
  MemoryStore store;
  testing::FakeClock clock{1'795'590'188};
  GreylistConfig config = [] {
    GreylistConfig c;
    c.dynamic_delay = 0;
    c.pool_by_domain = false;
    c.pool_by_spf = true;
    c.auto_whitelist_clients = 0;
    c.auto_whitelist_domains = 0;
    return c;
  }();
  Greylister greylister{config, store, clock};
  SpfService spf;
  std::unique_ptr<testing::LoopbackPolicyServer> server;

  Fixture() {
    AresResolverOptions options;
    options.servers = {dns.address()};
    options.timeout = kDnsTimeout;
    const Status started = spf.start(true, options);
    REQUIRE_MESSAGE(started.ok(), started.message());
    PolicySettings settings;
    settings.common.spf = spf.pooling();
    server = std::make_unique<testing::LoopbackPolicyServer>(std::move(settings), greylister, clock);
  }
  ~Fixture() {
    spf.stop();
    server->stop();
  }
  int port() const { return server->port(); }
  bool stored(const std::string& client, const std::string& sender) {
    auto found = store.get(Table::kTriplets, encode_triplet_key(client, normalize_sender(sender), "r@example.org"));
    return found.ok() && found.value().has_value();
  }
};

}  // namespace

TEST_SUITE("policy_spf_pool") {

TEST_CASE("a retry from another network the domain authorizes passes; an unauthorized one waits") {
  Fixture f;
  LineClient client(f.port());
  REQUIRE(client.ok());
  CHECK(client.policy(rcpt("192.0.2.7", "a@pool.test")) == kGreylisted);
  CHECK(f.stored(spf_pool_client("pool.test"), "a@pool.test"));
  CHECK_FALSE(f.stored("192.0.2.0", "a@pool.test"));
  f.clock.advance(301);
  CHECK(passed_after_delay(client.policy(rcpt("198.51.100.9", "a@pool.test"))));
  // The same envelope from an address pool.test's record fails: its network.
  CHECK(client.policy(rcpt("203.0.113.5", "a@pool.test")) == kGreylisted);
  CHECK(f.stored("203.0.113.0", "a@pool.test"));
  CHECK(f.store.count(Table::kTriplets).value() == 2);
}

TEST_CASE("softfail, the null sender and a DNS timeout are keyed by network") {
  Fixture f;
  LineClient client(f.port());
  REQUIRE(client.ok());
  for (const std::string sender : {"b@soft.test", "", "c@silent.test"}) {
    CAPTURE(sender);
    CHECK(client.policy(rcpt("192.0.2.7", sender)) == kGreylisted);
    f.clock.advance(301);
    // Another network: a new triplet, greylisted again.
    CHECK(client.policy(rcpt("198.51.100.9", sender)) == kGreylisted);
    CHECK(f.stored("192.0.2.0", sender));
    CHECK(f.stored("198.51.100.0", sender));
  }
}

TEST_CASE("a silent SPF lookup delays only its own request; pipelined requests stay in order") {
  Fixture f;
  LineClient slow(f.port());
  LineClient fast(f.port());
  REQUIRE(slow.ok());
  REQUIRE(fast.ok());
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(slow.send(rcpt("192.0.2.7", "d@silent.test") + "\n" + rcpt("192.0.2.7", "e@pool.test") +
                    "\n"));
  CHECK(fast.policy(rcpt("192.0.2.8", "f@pool.test")) == kGreylisted);
  CHECK(std::chrono::steady_clock::now() - started < kDnsTimeout);
  CHECK(slow.read_until("\n\n", 5s) == std::optional<std::string>(kGreylisted));
  CHECK(std::chrono::steady_clock::now() - started >= kDnsTimeout - 50ms);
  CHECK(slow.read_until("\n\n", 5s) == std::optional<std::string>(kGreylisted));
  CHECK(f.stored("192.0.2.0", "d@silent.test"));
  CHECK(f.stored(spf_pool_client("pool.test"), "e@pool.test"));
}

TEST_CASE("a silent DNS server costs a message one wait, not one per recipient") {
  Fixture f;
  LineClient client(f.port());
  REQUIRE(client.ok());
  const auto timed = [&](const std::string& sender, const std::string& recipient) {
    const auto started = std::chrono::steady_clock::now();
    CHECK(client.policy(rcpt("192.0.2.7", sender, recipient)) == kGreylisted);
    return std::chrono::steady_clock::now() - started;
  };
  CHECK(timed("g@silent.test", "r1@example.org") >= kDnsTimeout - 50ms);
  // The message's next recipients: the timeout is reused at once.
  CHECK(timed("g@silent.test", "r2@example.org") < kDnsTimeout / 2);
  CHECK(timed("g@silent.test", "r3@example.org") < kDnsTimeout / 2);
  // Another message (another sender domain, as silent) waits again.
  CHECK(timed("h@other.silent.test", "r1@example.org") >= kDnsTimeout - 50ms);
}

}  // TEST_SUITE
