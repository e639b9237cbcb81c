// End-to-end rules (issue 14): the built daemon with a rules file and a
// real DNS server (dnsmasq on loopback, support/dnsmasq_server.h) behind a
// private Postfix (postfix_instance.h), through both front ends, each
// scenario with its own clients (XCLIENT):
//   - a client a DNS allow list lists with 127.0.N.T inside the rule's
//     ADDRESS/MASK passes at once; one listed outside the mask and an
//     unlisted one (NXDOMAIN) are greylisted;
//   - a client a DNS block list lists is rejected with 550 5.7.1 and the
//     rule's text (the blacklist rule);
//   - mail to a greytrap address traps the client's network: that
//     client's later mail, and its neighbour's, stays tempfailed past the
//     delay while another network's mail passes after it;
//   - a greylist rule's own delay (5 s) replaces --delay (2 s);
//   - SMTP AUTH (through the milter and through a policy service Postfix
//     asks for authenticated clients too): a rule that names auth
//     greylists the authenticated sender it matches, with its own delay;
//     without such a rule she passes as "SMTP AUTH", even from a client
//     the DNS block list lists (rules that do not name auth never apply);
//   - --pool-by-spf (issue 18): a first attempt from one network the
//     sender domain's SPF record authorizes and the retry from another
//     authorized network passes; the envelope from an address the record
//     does not authorize is greylisted, keyed by its network (its
//     neighbour's retry passes, another network's waits);
//   - --pool-by-spf and a spammer's wildcard: a record whose exists:
//     matches every address (a wildcard A record) passes, but names no
//     pool (the probe address passes too): the retry from another network
//     is greylisted again;
//   - --pool-by-spf with a DNS server that never answers (a dnsmasq zone
//     forwarded to a silent socket): the mail is answered within
//     --dns-timeout plus a margin, keyed by network, and the timeout is
//     logged once, naming the DNS server.
//
// Needs root and dnsmasq (dnsmasq-base); installs postfix and sasl2-bin
// when missing. Every wait is bounded; everything started is stopped
// when the program exits, also after a failed check, SIGINT or SIGTERM.
// GREYLIST_E2E_KEEP=1 keeps the instance directory for a look.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e2e/e2e_session.h"
#include "e2e/postfix_instance.h"
#include "support/daemon_process.h"
#include "support/dnsmasq_server.h"
#include "support/line_client.h"

namespace greylist::testing::e2e {
namespace {

using Service = PostfixInstance::Service;
using namespace std::chrono_literals;

constexpr int kDelay = 2;         // --delay
constexpr int kRuleDelay = 5;     // the "slow" rule's delay
constexpr auto kPastDelay = 2300ms;      // a retry at least kDelay whole seconds later
constexpr auto kPastRuleDelay = 5300ms;  // the same for kRuleDelay
constexpr const char* kHostname = "rules-e2e-host";
// This program's own environment: slot 0 of the interrupt handler.
constexpr int kSlot = 0;

// Line numbers matter: the log names the rule as FILE:LINE (ID).
constexpr const char* kRules =
    "# greylist-milter rules e2e\n"
    "dnsrbl \"dnswl\" dnswl.e2e.test 127.0.0.0/16\n"                         // 2
    "dnsrbl \"bl\" bl.e2e.test 127.0.0.2\n"                                   // 3
    "racl \"dnswl\" whitelist dnsrbl \"dnswl\"\n"                            // 4
    "racl \"bl\" blacklist dnsrbl \"bl\" msg \"Listed in the e2e block list\"\n"  // 5
    "racl \"trap\" greytrap rcpt trap@dest.test\n"                           // 6
    "racl \"slow\" greylist from @slow.test delay 5s\n"                      // 7
    "racl \"auth\" greylist auth /^alice/ from @authslow.test delay 5s\n";   // 8
constexpr const char* kBlockText = "Listed in the e2e block list";

// The clients of each front end (the greytrap ones in /24s of their own:
// a trap holds the client's /24, the triplets' network grouping).
struct Clients {
  Service service;
  std::string dnswl_listed, dnswl_outside, dnswl_unlisted;  // 203.0.113.0/24
  std::string blocked;                                      // 192.0.2.0/24
  std::string trapped, trapped_neighbour, untrapped;        // 10.61-64.x.0/24
  std::string slow;
};
const Clients kMilterClients = {Service::kMilter, "203.0.113.50", "203.0.113.51", "203.0.113.52",
                                "192.0.2.10",     "10.61.1.5",    "10.61.1.6",    "10.62.1.5",
                                "10.65.1.5"};
const Clients kPolicyClients = {Service::kPolicy, "203.0.113.60", "203.0.113.61", "203.0.113.62",
                                "192.0.2.20",     "10.63.1.5",    "10.63.1.6",    "10.64.1.5",
                                "10.66.1.5"};

// --pool-by-spf: pool.e2e.test authorizes two networks; each front end
// its own sender, so the two never share a triplet.
constexpr const char* kSpfDomain = "pool.e2e.test";
constexpr const char* kSpfFirst = "100.64.1.5";         // authorized
constexpr const char* kSpfRetry = "100.64.2.9";         // authorized, another network
constexpr const char* kSpfUnauthorized = "100.64.3.7";  // -all
constexpr const char* kSpfUnauthorizedNeighbour = "100.64.3.8";  // its /24
constexpr const char* kSpfUnauthorizedOther = "100.64.4.7";      // -all, another /24
// A spammer's record that passes every address: exists: over a wildcard.
constexpr const char* kWildDomain = "wild.e2e.test";
constexpr const char* kWildFirst = "100.64.6.5";
constexpr const char* kWildRetry = "100.64.7.9";  // another network
// Sender domains under a zone dnsmasq forwards to a socket that never
// answers: SPF times out (--dns-timeout). One per front end, so each waits
// for its own timeout (the resolver caches a failure for 30 s).
constexpr const char* kSilentZone = "silent.e2e.test";
constexpr auto kDnsTimeout = 1000ms;  // --dns-timeout
constexpr auto kAnswerMargin = 3000ms;  // Postfix's own work in one SMTP session

// "203.0.113.50" -> "50.113.0.203.ZONE"
std::string reversed(const std::string& address, const std::string& zone) {
  std::vector<std::string> octets;
  std::string rest = address;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    octets.push_back(rest.substr(0, dot));
    rest.erase(0, dot + 1);
  }
  octets.push_back(rest);
  std::string name;
  for (auto it = octets.rbegin(); it != octets.rend(); ++it) name += *it + ".";
  return name + zone;
}

DnsmasqZones test_zones() {
  DnsmasqZones zones;
  // The other scenarios' sender domains too: without SPF records (none),
  // their checks never fail, so the only temperrors are kSilentZone's.
  zones.local_zones = {"dnswl.e2e.test", "bl.e2e.test", kSpfDomain, "dnswl.test", "bl.test",
                       "trap.test",      "fine.test",   "slow.test", "fast.test", kWildDomain,
                       "authslow.test"};
  zones.silent_zones = {kSilentZone};
  zones.txt_records = {{kSpfDomain, {"v=spf1 ip4:100.64.1.0/24 ip4:100.64.2.0/24 -all"}},
                       {kWildDomain, {"v=spf1 exists:%{i}._w.wild.e2e.test -all"}}};
  zones.wildcard_records = {{"_w.wild.e2e.test", "127.0.0.2"}};
  for (const Clients* c : {&kMilterClients, &kPolicyClients}) {
    zones.records.emplace_back(reversed(c->dnswl_listed, "dnswl.e2e.test"), "127.0.10.2");
    zones.records.emplace_back(reversed(c->dnswl_outside, "dnswl.e2e.test"), "127.1.0.1");
    zones.records.emplace_back(reversed(c->blocked, "bl.e2e.test"), "127.0.0.2");
  }
  return zones;
}

const std::vector<std::string> kMailboxes = {"dnswl", "blocked", "trap", "trapped", "untrapped",
                                             "slow", "fast", "spf", "spf-silent",
                                             "spf-silent2", "auth"};


// dnsmasq, the daemon with the rules, and a Postfix in front of it.
class Environment {
 public:
  Environment() {
    daemon_.keep_variable = "GREYLIST_E2E_KEEP";
    clean_up_stale_instances();
    ensure_postfix_installed(SOURCE_ROOT);
    dns_ = std::make_unique<DnsmasqServer>(test_zones());
    start_daemon();
    postfix_ = start_postfix_for(daemon_, kMailboxes, running_parts(kSlot));
  }

  ~Environment() {
    postfix_.reset();
    running_parts(kSlot).postfix_etc[0] = '\0';
    daemon_.kill9();
    running_parts(kSlot).daemon_pid = 0;
  }

  PostfixInstance& postfix() { return *postfix_; }
  std::string daemon_log() const { return daemon_.log(); }
  std::string rules_path() const { return daemon_.dir + "/rules"; }
  std::string dns_address() const { return dns_->address(); }
  int metrics_port() const { return metrics_port_; }

 private:
  void start_daemon() {
    daemon_.hostname = kHostname;
    daemon_.milter_port = free_loopback_port();
    daemon_.write("rules", kRules);
    daemon_.base_options = {"--delay", std::to_string(kDelay), "--dynamic-delay", "0", "--verbose",
                            "--skip-networks", "127.0.0.0/8,::1/128", "--rules", rules_path(),
                            "--dns-server", dns_->address(), "--dns-timeout",
                            std::to_string(kDnsTimeout.count()),
                            "--pool-by-spf", "yes", "--metrics",
                            "inet:127.0.0.1:" + std::to_string(metrics_port_)};
    daemon_.spawn();
    running_parts(kSlot).daemon_pid = daemon_.pid();
    daemon_.write("daemon.pid", std::to_string(daemon_.pid()) + "\n");
    if (!daemon_.wait_until_serving()) {
      throw std::runtime_error("greylist-milter with rules does not serve:\n" + daemon_.log());
    }
  }

  DaemonProcess daemon_{"greylist-e2e"};  // its directory holds everything; removed last
  const int metrics_port_ = free_loopback_port();
  std::unique_ptr<DnsmasqServer> dns_;
  std::unique_ptr<PostfixInstance> postfix_;  // destroyed first
};

// The environment, set up on first use and kept to the end.
Environment& env() {
  static std::unique_ptr<Environment> instance;
  static std::string failure;
  if (!instance && failure.empty()) {
    try {
      instance = std::make_unique<Environment>();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  REQUIRE_MESSAGE(instance != nullptr, "rules end-to-end set-up failed: " << failure);
  return *instance;
}

Attempt send(Service service, const std::string& client, const std::string& sender,
             const std::string& mailbox) {
  return send_mail_as(env().postfix().port(service), client, client_name(client), sender, {mailbox});
}

// As send(), the client without a verified name: --pool-by-domain leaves it
// keyed by network.
Attempt send_unnamed(Service service, const std::string& client, const std::string& sender,
                     const std::vector<std::string>& mailboxes) {
  return send_mail_as(env().postfix().port(service), client, kNoName, sender, mailboxes);
}

// The daemon's --metrics text ("" when it does not answer).
std::string metrics() {
  LineClient http(env().metrics_port());
  if (!http.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")) return "";
  return http.read_until("greylist_start_time_seconds ").value_or("");
}

bool logged(const std::string& text) { return env().daemon_log().find(text) != std::string::npos; }

// How many lines of the daemon's log contain both `a` and `b`.
int lines_with(const std::string& a, const std::string& b) {
  std::istringstream log(env().daemon_log());
  int count = 0;
  for (std::string line; std::getline(log, line);) {
    count += line.find(a) != std::string::npos && line.find(b) != std::string::npos ? 1 : 0;
  }
  return count;
}

// "rule=FILE:LINE (ID)" as a decision's log line names its rule.
std::string rule_field(int line, const std::string& id) {
  return "rule=" + env().rules_path() + ":" + std::to_string(line) + " (" + id + ")";
}

const char* front_end(Service service) { return service == Service::kPolicy ? "policy" : "milter"; }

TEST_SUITE("rules_e2e") {

TEST_CASE("DNSWL: a client listed inside the mask passes at once; outside it or unlisted, greylisted") {
  for (const Clients* c : {&kMilterClients, &kPolicyClients}) {
    CAPTURE(front_end(c->service));
    const std::size_t before = env().postfix().delivered("dnswl").size();
    const auto listed = send(c->service, c->dnswl_listed, "wl@dnswl.test", "dnswl");
    REQUIRE(listed.rcpt.size() == 1);
    CHECK(listed.rcpt[0].code == 250);
    CHECK(listed.data.code == 250);
    CHECK(delivered_message(env().postfix(), "dnswl", before).greylist_headers.empty());
    CHECK_MESSAGE(logged("client_address=" + c->dnswl_listed), env().daemon_log());
    CHECK_MESSAGE(logged(rule_field(4, "dnswl")), env().daemon_log());

    for (const auto& other : {c->dnswl_outside, c->dnswl_unlisted}) {
      CAPTURE(other);
      const auto attempt = send(c->service, other, "wl@dnswl.test", "dnswl");
      REQUIRE(attempt.rcpt.size() == 1);
      CHECK(greylisted(c->service, attempt.rcpt[0]));
    }
  }
}

TEST_CASE("DNSBL: a blacklist rule rejects a listed client with 550 5.7.1 and the rule's text") {
  for (const Clients* c : {&kMilterClients, &kPolicyClients}) {
    CAPTURE(front_end(c->service));
    const auto attempt = send(c->service, c->blocked, "spam@bl.test", "blocked");
    REQUIRE(attempt.rcpt.size() == 1);
    CHECK(attempt.rcpt[0].code == 550);
    CHECK(attempt.rcpt[0].last_line.rfind("550 5.7.1 ", 0) == 0);
    CHECK(attempt.rcpt[0].last_line.find(kBlockText) != std::string::npos);
    CHECK(attempt.data.code == 0);
    CHECK_MESSAGE(logged(rule_field(5, "bl")), env().daemon_log());
  }
  CHECK(env().postfix().delivered("blocked").empty());
}

TEST_CASE("greytrap: the trapped network stays tempfailed past the delay, another network passes") {
  const std::vector<const Clients*> all = {&kMilterClients, &kPolicyClients};
  for (const Clients* c : all) {
    CAPTURE(front_end(c->service));
    const auto hit = send(c->service, c->trapped, "bot@trap.test", "trap");
    REQUIRE(hit.rcpt.size() == 1);
    CHECK(greylisted(c->service, hit.rcpt[0]));
    CHECK_MESSAGE(logged(rule_field(6, "trap")), env().daemon_log());
    CHECK(greylisted(c->service, send(c->service, c->trapped, "bot@trap.test", "trapped").rcpt.at(0)));
    CHECK(greylisted(c->service, send(c->service, c->untrapped, "ok@fine.test", "untrapped").rcpt.at(0)));
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Clients* c : all) {
    CAPTURE(front_end(c->service));
    // The same triplet as before the delay, and a neighbour in the /24.
    CHECK(greylisted(c->service, send(c->service, c->trapped, "bot@trap.test", "trapped").rcpt.at(0)));
    CHECK(greylisted(c->service,
                     send(c->service, c->trapped_neighbour, "bot2@trap.test", "trapped").rcpt.at(0)));
    // The trapped network's later mail: "greytrap (NETWORK/LEN)", no rule.
    const std::string neighbour = "client_address=" + c->trapped_neighbour + ",";
    CHECK_MESSAGE(lines_with("action=greylist, reason=greytrap (", neighbour) == 1, env().daemon_log());
    // The hit ("reason=greytrap, rule=..."), then two trapped.
    CHECK_MESSAGE(lines_with("reason=greytrap", "client_address=" + c->trapped + ",") == 3,
                  env().daemon_log());
    CHECK_MESSAGE(lines_with("reason=greytrap (", "client_address=" + c->trapped + ",") == 2,
                  env().daemon_log());

    const std::size_t before = env().postfix().delivered("untrapped").size();
    const auto retry = send(c->service, c->untrapped, "ok@fine.test", "untrapped");
    REQUIRE(retry.rcpt.size() == 1);
    CHECK(retry.rcpt[0].code == 250);
    CHECK(delivered_message(env().postfix(), "untrapped", before).greylist_headers.size() == 1);
  }
  CHECK(env().postfix().delivered("trapped").empty());
  CHECK(env().postfix().delivered("trap").empty());
}

TEST_CASE("per-rule delay: a greylist rule's delay 5s replaces --delay 2") {
  const std::vector<const Clients*> all = {&kMilterClients, &kPolicyClients};
  for (const Clients* c : all) {
    CAPTURE(front_end(c->service));
    CHECK(greylisted(c->service, send(c->service, c->slow, "late@slow.test", "slow").rcpt.at(0)));
    CHECK(greylisted(c->service, send(c->service, c->slow, "soon@fast.test", "fast").rcpt.at(0)));
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Clients* c : all) {
    CAPTURE(front_end(c->service));
    CHECK(greylisted(c->service, send(c->service, c->slow, "late@slow.test", "slow").rcpt.at(0)));
    CHECK(send(c->service, c->slow, "soon@fast.test", "fast").rcpt.at(0).code == 250);
  }
  std::this_thread::sleep_for(kPastRuleDelay - kPastDelay);
  for (const Clients* c : all) {
    CAPTURE(front_end(c->service));
    const std::size_t before = env().postfix().delivered("slow").size();
    const auto retry = send(c->service, c->slow, "late@slow.test", "slow");
    REQUIRE(retry.rcpt.size() == 1);
    CHECK(retry.rcpt[0].code == 250);
    const auto message = delivered_message(env().postfix(), "slow", before);
    REQUIRE(message.greylist_headers.size() == 1);
    CHECK(delayed_seconds(message.greylist_headers[0], kHostname) >= kRuleDelay);
  }
  CHECK_MESSAGE(logged(rule_field(7, "slow")), env().daemon_log());
}

// One SMTP session authenticated as alice (PostfixInstance's SASL user).
Attempt send_authenticated(Service service, const std::string& client, const std::string& sender) {
  return send_mail_as(env().postfix().port(service), client, client_name(client), sender, {"auth"},
                      true);
}

TEST_CASE("SMTP AUTH: a rule that names auth greylists alice through both front ends; without one "
          "she passes, even from a blocked client") {
  struct Case {
    Service service;
    std::string client;   // its own, for the rule's triplet
    std::string blocked;  // listed in the DNS block list
  };
  const std::vector<Case> cases = {{Service::kMilterAuth, "10.67.1.5", kMilterClients.blocked},
                                   {Service::kPolicyAuth, "10.68.1.5", kPolicyClients.blocked}};
  for (const Case& c : cases) {
    CAPTURE(c.client);
    const auto first = send_authenticated(c.service, c.client, "alice@authslow.test");
    REQUIRE(first.rcpt.size() == 1);
    CHECK(greylisted(c.service, first.rcpt[0]));
    CHECK_MESSAGE(lines_with("client_address=" + c.client, rule_field(8, "auth")) == 1,
                  env().daemon_log());
    const std::size_t before = env().postfix().delivered("auth").size();
    const auto passed = send_authenticated(c.service, c.blocked, "alice@fine.test");
    REQUIRE(passed.rcpt.size() == 1);
    CHECK(passed.rcpt[0].code == 250);
    CHECK(passed.data.code == 250);
    CHECK(delivered_message(env().postfix(), "auth", before).greylist_headers.empty());
    CHECK_MESSAGE(lines_with("action=pass, reason=SMTP AUTH, ",
                             "client_address=" + c.blocked + ", sender=alice@fine.test") == 1,
                  env().daemon_log());
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Case& c : cases) {  // --delay has passed, the rule's delay has not
    CAPTURE(c.client);
    CHECK(greylisted(c.service, send_authenticated(c.service, c.client, "alice@authslow.test").rcpt.at(0)));
  }
  std::this_thread::sleep_for(kPastRuleDelay - kPastDelay);
  for (const Case& c : cases) {
    CAPTURE(c.client);
    const std::size_t before = env().postfix().delivered("auth").size();
    const auto retry = send_authenticated(c.service, c.client, "alice@authslow.test");
    REQUIRE(retry.rcpt.size() == 1);
    CHECK(retry.rcpt[0].code == 250);
    const auto message = delivered_message(env().postfix(), "auth", before);
    REQUIRE(message.greylist_headers.size() == 1);
    CHECK(delayed_seconds(message.greylist_headers[0], kHostname) >= kRuleDelay);
  }
}

TEST_CASE("--pool-by-spf: the retry from another authorized network passes; an unauthorized "
          "address is greylisted, keyed by its network") {
  const std::vector<Service> services = {Service::kMilter, Service::kPolicy};
  const auto sender = [](Service service) {
    return std::string(front_end(service)) + "@" + kSpfDomain;
  };
  for (const Service service : services) {
    CAPTURE(front_end(service));
    CHECK(greylisted(service, send(service, kSpfFirst, sender(service), "spf").rcpt.at(0)));
    CHECK(greylisted(service,
                     send_unnamed(service, kSpfUnauthorized, sender(service), {"spf"}).rcpt.at(0)));
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Service service : services) {
    CAPTURE(front_end(service));
    // Not the triplet's network, nor its client name's registered domain.
    const std::size_t before = env().postfix().delivered("spf").size();
    const auto retry = send(service, kSpfRetry, sender(service), "spf");
    REQUIRE(retry.rcpt.size() == 1);
    CHECK(retry.rcpt[0].code == 250);
    CHECK(delivered_message(env().postfix(), "spf", before).greylist_headers.size() == 1);
    // The unauthorized first attempt's triplet is its network's: the
    // neighbour's retry passes, another unauthorized network waits.
    const auto neighbour = send_unnamed(service, kSpfUnauthorizedNeighbour, sender(service), {"spf"});
    REQUIRE(neighbour.rcpt.size() == 1);
    CHECK(neighbour.rcpt[0].code == 250);
    CHECK(greylisted(service,
                     send_unnamed(service, kSpfUnauthorizedOther, sender(service), {"spf"}).rcpt.at(0)));
  }
  CHECK_MESSAGE(lines_with("reason=pool (spf:pool.e2e.test)", "client_address=100.64.2.9,") == 2,
                env().daemon_log());
  CHECK_MESSAGE(lines_with("action=pass, reason=triplet found", "client_address=100.64.3.8,") == 2,
                env().daemon_log());
  CHECK_MESSAGE(lines_with("action=greylist, reason=new", "client_address=100.64.4.7,") == 2,
                env().daemon_log());
  CHECK_MESSAGE(lines_with("spf:", "client_address=100.64.3.") == 0, env().daemon_log());
}

TEST_CASE("--pool-by-spf: a pass through a wildcard exists: names no pool; the retry from "
          "another network waits") {
  const std::vector<Service> services = {Service::kMilter, Service::kPolicy};
  const auto sender = [](Service service) { return std::string(front_end(service)) + "@" + kWildDomain; };
  for (const Service service : services) {
    CAPTURE(front_end(service));
    CHECK(greylisted(service, send_unnamed(service, kWildFirst, sender(service), {"spf"}).rcpt.at(0)));
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Service service : services) {
    CAPTURE(front_end(service));
    CHECK(greylisted(service, send_unnamed(service, kWildRetry, sender(service), {"spf"}).rcpt.at(0)));
  }
  // Each attempt passed SPF, and none pooled (--verbose logs why).
  const std::string why = "(exists:%{i}._w.wild.e2e.test: passes a probe address too: not a sender pool)";
  CHECK_MESSAGE(lines_with("SPF pass of wild.e2e.test for 100.64.6.5 " + why, "") == 2, env().daemon_log());
  CHECK_MESSAGE(lines_with("SPF pass of wild.e2e.test for 100.64.7.9 " + why, "") == 2, env().daemon_log());
  CHECK_MESSAGE(lines_with("spf:wild.e2e.test", "") == 0, env().daemon_log());
}

TEST_CASE("--pool-by-spf with a silent DNS server: answered within --dns-timeout, keyed by "
          "network, the timeout logged once naming the server") {
  const std::vector<Service> services = {Service::kMilter, Service::kPolicy};
  const auto sender = [](Service service) {
    return std::string("a@") + front_end(service) + "." + kSilentZone;
  };
  env();  // set up before the clock starts
  for (const Service service : services) {
    CAPTURE(front_end(service));
    const auto started = std::chrono::steady_clock::now();
    // Two recipients: the milter checks once per message (a second check
    // would wait for the silent server again), the policy service once per
    // recipient, the second reusing its connection's verdict (SpfMemo).
    const auto first =
        send_unnamed(service, "100.64.5.7", sender(service), {"spf-silent", "spf-silent2"});
    const auto took = std::chrono::steady_clock::now() - started;
    MESSAGE(std::string(front_end(service)) << ": answered in "
                               << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                               << " ms");
    REQUIRE(first.rcpt.size() == 2);
    CHECK(greylisted(service, first.rcpt[0]));
    CHECK(greylisted(service, first.rcpt[1]));
    CHECK(took >= kDnsTimeout - 100ms);  // it did wait for SPF
    CHECK(took < kDnsTimeout + kAnswerMargin);
  }
  std::this_thread::sleep_for(kPastDelay);
  for (const Service service : services) {
    CAPTURE(front_end(service));
    // Keyed by network: a neighbour's retry is the same triplet.
    const std::size_t before = env().postfix().delivered("spf-silent").size();
    const auto started = std::chrono::steady_clock::now();
    const auto retry = send_unnamed(service, "100.64.5.8", sender(service), {"spf-silent"});
    CHECK(std::chrono::steady_clock::now() - started < kDnsTimeout + kAnswerMargin);
    REQUIRE(retry.rcpt.size() == 1);
    CHECK(retry.rcpt[0].code == 250);
    CHECK(delivered_message(env().postfix(), "spf-silent", before).greylist_headers.size() == 1);
  }
  // Five temperrors (milter 1 + 1, policy 2 + 1), one line each from the
  // check and from the resolver (the interval is 5 minutes). The check's
  // reason is its deadline or, for a milter thread, the end of its wait.
  const std::string logged = ") at " + env().dns_address() + ": keyed by network (--pool-by-spf)";
  CHECK_MESSAGE(lines_with("SPF check of milter.silent.e2e.test for 100.64.5.7 failed (", logged) == 1,
                env().daemon_log());
  CHECK_MESSAGE(lines_with("SPF check of ", "") == 1, env().daemon_log());
  CHECK_MESSAGE(lines_with("SPF DNS: lookup of TXT milter.silent.e2e.test failed", "") == 1,
                env().daemon_log());
  CHECK_MESSAGE(lines_with("SPF DNS: lookup of ", "") == 1, env().daemon_log());
  const std::string text = metrics();
  CHECK_MESSAGE(text.find("\ngreylist_spf_results_total{result=\"temperror\"} 5\n") != std::string::npos,
                text);
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist::testing::e2e
