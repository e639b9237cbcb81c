// End-to-end: the built greylist-milter daemon behind a real, private
// Postfix (postfix_instance.h), driven over SMTP with XCLIENT to play
// different remote clients. Covers the scenarios of issue 3: the milter
// path, several recipients, the policy path, state shared by both paths,
// both hooks at once, clients that are not greylisted (skip networks,
// loopback, SMTP AUTH), and a stopped daemon (milter_default_action); and
// those of issue 4: a client whitelisted by name and by network, and a
// whitelisted recipient, through both front ends, with the rule logged.
// The main greylisting scenarios run twice (issue 8): with the daemon on
// its Berkeley DB store, and on --store redis with a redis-server the test
// starts on loopback.
//
// Needs root; installs postfix and sasl2-bin when missing. Every wait is
// bounded; Postfix, the daemons and redis-server are stopped when the
// program exits, also after a failed check, SIGINT or SIGTERM.
// GREYLIST_E2E_KEEP=1 keeps the instance directories (config, maillog,
// daemon.log, Maildirs) for a look.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e2e/e2e_session.h"
#include "e2e/postfix_instance.h"
#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/line_client.h"
#include "support/redis_server.h"
#include "support/smtp_client.h"

namespace greylist::testing::e2e {

enum class Store { kBerkeleyDb, kRedis };
constexpr int kStores = 2;

// TEST_CASE_TEMPLATE's types: the scenarios that run on every store.
struct OnBerkeleyDb {
  static constexpr Store kStore = Store::kBerkeleyDb;
};
struct OnRedis {
  static constexpr Store kStore = Store::kRedis;
};

}  // namespace greylist::testing::e2e

TYPE_TO_STRING_AS("Berkeley DB", greylist::testing::e2e::OnBerkeleyDb);
TYPE_TO_STRING_AS("Redis", greylist::testing::e2e::OnRedis);

namespace greylist::testing::e2e {
namespace {

using Service = PostfixInstance::Service;

constexpr int kDelay = 2;  // --delay of the daemon under test
// Long enough that a retry is at least kDelay whole seconds after the first.
constexpr std::chrono::milliseconds kPastDelay{2300};
constexpr const char* kHostname = "e2e-host";

const std::vector<std::string> kMailboxes = {
    "m1",        "multi-known", "multi-new", "postmaster", "wl-new", "p1",   "shared-pm",
    "shared-mp", "both",        "skip",      "loop",       "auth",   "down", "down-accept",
    "wl-name",   "wl-cidr",     "wl-near",   "wl-rcpt-new", "redis-keys"};

// The daemon's client whitelist. Line numbers matter: the log names them.
// The regex would match "unknown", which no name rule may match.
constexpr const char* kWhitelistClients =
    "# greylist-milter e2e client whitelist\n"
    ".protection.outlook.com\n"  // line 2
    "192.0.2.128/25\n"           // line 3
    "/^unknown$/\n";             // line 4
constexpr const char* kNameRuleSource = "whitelist_clients:2 .protection.outlook.com";
constexpr const char* kNetworkRuleSource = "whitelist_clients:3 192.0.2.128/25";
constexpr const char* kRecipientRuleSource = "whitelist_recipients:1 postmaster@";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A private Postfix in front of the daemon on one store (and, for Redis,
// the redis-server it uses).
class Environment {
 public:
  explicit Environment(Store store) : store_(store) {
    // The daemon's directory holds the whole instance, kept on request.
    daemon_.keep_variable = "GREYLIST_E2E_KEEP";
    clean_up_stale_instances();
    ensure_postfix_installed(SOURCE_ROOT);
    if (store_ == Store::kRedis) {
      redis_ = std::make_unique<RedisServer>();
      parts().redis_pid = redis_->pid();
      write_text(daemon_.dir + "/redis.pid", std::to_string(redis_->pid()) + "\n");
    }
    start_daemon();

    postfix_ = start_postfix_for(daemon_, kMailboxes, parts());
  }

  ~Environment() {
    postfix_.reset();
    parts().postfix_etc[0] = '\0';
    stop_daemon();
    parts().redis_pid = 0;  // redis_ is stopped next
  }

  PostfixInstance& postfix() { return *postfix_; }
  // The redis-server of Store::kRedis, nullptr for the other store.
  RedisServer* redis() { return redis_.get(); }
  std::string daemon_log() const { return daemon_.log(); }

  // SIGTERM; the wait status if it exited within 2 s.
  std::optional<int> stop_daemon() {
    auto status = daemon_.stop(std::chrono::seconds(2));
    daemon_.kill9();  // if it is still running
    parts().daemon_pid = 0;
    return status;
  }

 private:
  RunningParts& parts() { return running_parts(static_cast<int>(store_)); }

  void start_daemon() {
    daemon_.hostname = kHostname;
    daemon_.milter_port = free_loopback_port();
    daemon_.clients_file = "whitelist_clients";
    daemon_.recipients_file = "whitelist_recipients";
    daemon_.write("whitelist_clients", kWhitelistClients);
    daemon_.write("whitelist_recipients", "postmaster@\n");
    daemon_.base_options = {"--delay", std::to_string(kDelay), "--verbose", "--skip-networks",
                            "127.0.0.0/8,::1/128,198.51.100.0/24"};
    if (store_ == Store::kRedis) {
      // --dbdir stays: the daemon works in it whatever the store.
      daemon_.base_options.insert(daemon_.base_options.end(),
                                  {"--store", "redis", "--redis", redis_->url()});
    }
    daemon_.spawn();
    parts().daemon_pid = daemon_.pid();
    write_text(daemon_.dir + "/daemon.pid", std::to_string(daemon_.pid()) + "\n");
    if (!daemon_.wait_until_serving()) {
      throw std::runtime_error("greylist-milter does not serve on ports " +
                               std::to_string(daemon_.policy_port) + " and " +
                               std::to_string(daemon_.milter_port) + ":\n" + daemon_.log());
    }
  }

  Store store_;
  DaemonProcess daemon_{"greylist-e2e"};  // its directory holds everything; removed last
  std::unique_ptr<RedisServer> redis_;  // outlives the daemon (stopped by ~Environment)
  std::unique_ptr<PostfixInstance> postfix_;  // destroyed first
};

// The environment of `store`, set up on first use and kept to the end.
Environment& env(Store store = Store::kBerkeleyDb) {
  static std::unique_ptr<Environment> instances[kStores];
  static std::string failures[kStores];
  auto& instance = instances[static_cast<int>(store)];
  auto& failure = failures[static_cast<int>(store)];
  if (!instance && failure.empty()) {
    try {
      instance = std::make_unique<Environment>(store);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  REQUIRE_MESSAGE(instance != nullptr, "end-to-end set-up failed: " << failure);
  return *instance;
}

// The same as the client with its own name (client_name()).
Attempt send_mail(Environment& e, Service service, const std::string& client_address,
                  const std::string& sender, const std::vector<std::string>& mailboxes,
                  bool authenticate = false) {
  return send_mail_as(e.postfix().port(service), client_address,
                      client_address.empty() ? "" : client_name(client_address), sender, mailboxes,
                      authenticate);
}

// Whether the daemon logged a decision line containing `fields`
// ("action=..., reason=..., client_name=..."); milter lines start with the queue id.
bool logged(const Environment& e, const std::string& fields) {
  return e.daemon_log().find(fields) != std::string::npos;
}

// Waits for the delivery of one more message to `mailbox` and checks it.
DeliveredMessage delivered(Environment& e, const std::string& mailbox, std::size_t before) {
  return delivered_message(e.postfix(), mailbox, before);
}

// N of "X-Greylist: delayed N seconds by greylist-milter-VERSION at HOST; DATE", -1 otherwise.
long delayed_seconds(const std::string& header) { return e2e::delayed_seconds(header, kHostname); }

TEST_SUITE("e2e") {

TEST_CASE_TEMPLATE("milter: 450 4.2.0 at RCPT, early retry deferred, then accepted with one X-Greylist header",
                   StoreType, OnBerkeleyDb, OnRedis) {
  auto& e = env(StoreType::kStore);
  auto& postfix = e.postfix();
  const auto first = send_mail(e, Service::kMilter, "203.0.113.10", "alice@milter.test", {"m1"});
  CHECK(first.mail.code == 250);
  REQUIRE(first.rcpt.size() == 1);
  CHECK(greylisted_by_milter(first.rcpt[0]));
  CHECK(first.data.code == 0);

  const auto early = send_mail(e, Service::kMilter, "203.0.113.10", "alice@milter.test", {"m1"});
  REQUIRE(early.rcpt.size() == 1);
  CHECK(greylisted_by_milter(early.rcpt[0]));

  std::this_thread::sleep_for(kPastDelay);
  const auto retry = send_mail(e, Service::kMilter, "203.0.113.10", "alice@milter.test", {"m1"});
  REQUIRE(retry.rcpt.size() == 1);
  CHECK(retry.rcpt[0].code == 250);
  CHECK(retry.data.code == 250);
  const auto message = delivered(e, "m1", 0);
  REQUIRE(message.greylist_headers.size() == 1);
  CHECK(delayed_seconds(message.greylist_headers[0]) >= kDelay);
  CHECK(postfix.delivered("m1").size() == 1);  // the deferred attempts delivered nothing
}

TEST_CASE("milter, several recipients: a passed or whitelisted one is accepted, a new one deferred") {
  auto& e = env();
  auto& postfix = e.postfix();
  CHECK(greylisted_by_milter(send_mail(e, Service::kMilter, "192.0.2.11", "bob@multi.test", {"multi-known"}).rcpt.at(0)));
  std::this_thread::sleep_for(kPastDelay);
  CHECK(send_mail(e, Service::kMilter, "192.0.2.11", "bob@multi.test", {"multi-known"}).data.code == 250);
  CHECK(delivered(e, "multi-known", 0).greylist_headers.size() == 1);

  const auto mixed =
      send_mail(e, Service::kMilter, "192.0.2.11", "bob@multi.test", {"multi-known", "multi-new"});
  REQUIRE(mixed.rcpt.size() == 2);
  CHECK(mixed.rcpt[0].code == 250);
  CHECK(greylisted_by_milter(mixed.rcpt[1]));
  CHECK(mixed.data.code == 250);
  // Already passed, not delayed for this message: no header.
  CHECK(delivered(e, "multi-known", 1).greylist_headers.empty());
  CHECK(postfix.delivered("multi-new").empty());

  const auto whitelisted =
      send_mail(e, Service::kMilter, "10.20.30.12", "carol@whitelist.test", {"postmaster", "wl-new"});
  REQUIRE(whitelisted.rcpt.size() == 2);
  CHECK(whitelisted.rcpt[0].code == 250);
  CHECK(greylisted_by_milter(whitelisted.rcpt[1]));
  CHECK(whitelisted.data.code == 250);
  CHECK(delivered(e, "postmaster", 0).greylist_headers.empty());
  CHECK(postfix.delivered("wl-new").empty());
}

TEST_CASE_TEMPLATE("policy: deferred at RCPT, early retry deferred, then accepted with the header prepended",
                   StoreType, OnBerkeleyDb, OnRedis) {
  auto& e = env(StoreType::kStore);
  const auto first = send_mail(e, Service::kPolicy, "203.0.114.20", "dave@policy.test", {"p1"});
  REQUIRE(first.rcpt.size() == 1);
  CHECK(greylisted_by_policy(first.rcpt[0]));
  const auto early = send_mail(e, Service::kPolicy, "203.0.114.20", "dave@policy.test", {"p1"});
  REQUIRE(early.rcpt.size() == 1);
  CHECK(greylisted_by_policy(early.rcpt[0]));

  std::this_thread::sleep_for(kPastDelay);
  const auto retry = send_mail(e, Service::kPolicy, "203.0.114.20", "dave@policy.test", {"p1"});
  REQUIRE(retry.rcpt.size() == 1);
  CHECK(retry.rcpt[0].code == 250);
  CHECK(retry.data.code == 250);
  const auto message = delivered(e, "p1", 0);
  REQUIRE(message.greylist_headers.size() == 1);
  CHECK(delayed_seconds(message.greylist_headers[0]) >= kDelay);
}

TEST_CASE_TEMPLATE("shared state: first seen by the policy path, passed and known by the milter path",
                   StoreType, OnBerkeleyDb, OnRedis) {
  auto& e = env(StoreType::kStore);
  CHECK(greylisted_by_policy(send_mail(e, Service::kPolicy, "10.40.1.30", "erin@shared-pm.test", {"shared-pm"}).rcpt.at(0)));
  std::this_thread::sleep_for(kPastDelay);
  // The milter knows when the policy path first saw the triplet.
  const auto via_milter = send_mail(e, Service::kMilter, "10.40.1.30", "erin@shared-pm.test", {"shared-pm"});
  CHECK(via_milter.rcpt.at(0).code == 250);
  const auto first = delivered(e, "shared-pm", 0);
  REQUIRE(first.greylist_headers.size() == 1);
  CHECK(delayed_seconds(first.greylist_headers[0]) >= kDelay);
  // Passed: the policy path lets it through at once, without a header.
  const auto via_policy = send_mail(e, Service::kPolicy, "10.40.1.30", "erin@shared-pm.test", {"shared-pm"});
  CHECK(via_policy.rcpt.at(0).code == 250);
  CHECK(delivered(e, "shared-pm", 1).greylist_headers.empty());
}

TEST_CASE_TEMPLATE("shared state: first seen by the milter path, passed and known by the policy path",
                   StoreType, OnBerkeleyDb, OnRedis) {
  auto& e = env(StoreType::kStore);
  CHECK(greylisted_by_milter(send_mail(e, Service::kMilter, "10.40.2.31", "frank@shared-mp.test", {"shared-mp"}).rcpt.at(0)));
  std::this_thread::sleep_for(kPastDelay);
  const auto via_policy = send_mail(e, Service::kPolicy, "10.40.2.31", "frank@shared-mp.test", {"shared-mp"});
  CHECK(via_policy.rcpt.at(0).code == 250);
  const auto first = delivered(e, "shared-mp", 0);
  REQUIRE(first.greylist_headers.size() == 1);
  CHECK(delayed_seconds(first.greylist_headers[0]) >= kDelay);
  const auto via_milter = send_mail(e, Service::kMilter, "10.40.2.31", "frank@shared-mp.test", {"shared-mp"});
  CHECK(via_milter.rcpt.at(0).code == 250);
  CHECK(delivered(e, "shared-mp", 1).greylist_headers.empty());
}

TEST_CASE_TEMPLATE("both hooks at once: delayed once, exactly one X-Greylist header",
                   StoreType, OnBerkeleyDb, OnRedis) {
  auto& e = env(StoreType::kStore);
  const auto first = send_mail(e, Service::kBoth, "10.40.3.40", "grace@both.test", {"both"});
  REQUIRE(first.rcpt.size() == 1);
  CHECK(first.rcpt[0].code == 450);
  CHECK(first.rcpt[0].last_line.find("Greylisted") != std::string::npos);
  std::this_thread::sleep_for(kPastDelay);
  const auto retry = send_mail(e, Service::kBoth, "10.40.3.40", "grace@both.test", {"both"});
  REQUIRE(retry.rcpt.size() == 1);
  CHECK(retry.rcpt[0].code == 250);
  const auto message = delivered(e, "both", 0);
  REQUIRE(message.greylist_headers.size() == 1);
  CHECK(delayed_seconds(message.greylist_headers[0]) >= kDelay);
}

// The Redis runs above would pass as well on a daemon that ignored
// --store: a new triplet must show up in the redis-server.
TEST_CASE("Redis: the daemon keeps its triplets in the redis-server") {
  auto& e = env(Store::kRedis);
  RedisClient redis(e.redis()->port());
  REQUIRE(redis.ok());
  const auto keys = [&redis] {
    const auto reply = redis.command({"DBSIZE"});
    REQUIRE(reply.has_value());
    REQUIRE(reply->type == RedisValue::Type::kInteger);
    return reply->integer;
  };
  const long long before = keys();
  const auto attempt =
      send_mail(e, Service::kMilter, "10.40.7.80", "nina@redis-keys.test", {"redis-keys"});
  REQUIRE(attempt.rcpt.size() == 1);
  CHECK(greylisted_by_milter(attempt.rcpt[0]));
  CHECK(keys() > before);
}

TEST_CASE("not greylisted: a --skip-networks client, the loopback client, an SMTP AUTH client") {
  auto& e = env();
  const auto skipped = send_mail(e, Service::kMilter, "198.51.100.7", "henry@skip.test", {"skip"});
  CHECK(skipped.rcpt.at(0).code == 250);
  CHECK(delivered(e, "skip", 0).greylist_headers.empty());

  const auto loopback = send_mail(e, Service::kMilter, "", "ivan@loop.test", {"loop"});
  CHECK(loopback.rcpt.at(0).code == 250);
  CHECK(delivered(e, "loop", 0).greylist_headers.empty());

  const auto authenticated =
      send_mail(e, Service::kMilterAuth, "10.40.4.50", "judy@auth.test", {"auth"}, true);
  CHECK(authenticated.rcpt.at(0).code == 250);
  CHECK(delivered(e, "auth", 0).greylist_headers.empty());

  const std::string log = e.daemon_log();
  CHECK(log.find("action=pass, reason=skip networks (198.51.100.0/24), client_name=" +
                 client_name("198.51.100.7") + ", client_address=198.51.100.7") != std::string::npos);
  CHECK(log.find("action=pass, reason=skip networks (127.0.0.0/8), client_name=unknown, "
                 "client_address=127.0.0.1") != std::string::npos);
  CHECK(log.find("action=pass, reason=SMTP AUTH, client_name=" + client_name("10.40.4.50") +
                 ", client_address=10.40.4.50") != std::string::npos);
}

// Issue 4. Postfix hands the milter and the policy service the name and
// address XCLIENT set, the name as verified (as from forward-confirmed
// reverse DNS), so they play a provider's outbound host.
TEST_CASE("client whitelist: a name rule and a network rule pass at once through milter and policy") {
  auto& e = env();
  const std::string outlook = "mail-am6eur05on2101.outbound.protection.outlook.com";
  struct Case {
    Service service;
    std::string address;
    std::string name;
    std::string mailbox;
    std::string rule;
    std::string logged_name;  // client_name= in the log
  };
  const std::vector<Case> cases = {
      {Service::kMilter, "203.0.113.80", outlook, "wl-name", kNameRuleSource, outlook},
      {Service::kPolicy, "203.0.113.81", outlook, "wl-name", kNameRuleSource, outlook},
      {Service::kMilter, "192.0.2.200", kNoName, "wl-cidr", kNetworkRuleSource, "unknown"},
      {Service::kPolicy, "192.0.2.201", kNoName, "wl-cidr", kNetworkRuleSource, "unknown"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.address);
    const std::size_t before = e.postfix().delivered(c.mailbox).size();
    const std::string sender = "kate@" + c.mailbox + ".test";
    const auto attempt = send_mail_as(e.postfix().port(c.service), c.address, c.name, sender, {c.mailbox});
    REQUIRE(attempt.rcpt.size() == 1);
    CHECK(attempt.rcpt[0].code == 250);
    CHECK(attempt.data.code == 250);
    CHECK(delivered(e, c.mailbox, before).greylist_headers.empty());
    CHECK_MESSAGE(logged(e, "action=pass, reason=client whitelist (" + c.rule + "), client_name=" +
                         c.logged_name + ", client_address=" + c.address + ", sender=" + sender),
                  e.daemon_log());
  }
}

TEST_CASE("client whitelist: a client no rule covers is greylisted, also when it has no name") {
  auto& e = env();
  struct Case {
    Service service;
    std::string address;
    std::string name;
    std::string logged_name;
  };
  // Under outlook.com, not under protection.outlook.com.
  const std::string near_name = "mail.evil-protection.outlook.com";
  const std::vector<Case> cases = {
      {Service::kMilter, "203.0.113.90", near_name, near_name},
      {Service::kPolicy, "203.0.113.91", near_name, near_name},
      // Next to 192.0.2.128/25; "unknown" does not match /^unknown$/.
      {Service::kMilter, "192.0.2.100", kNoName, "unknown"},
      {Service::kPolicy, "192.0.2.101", kNoName, "unknown"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.address);
    const std::string sender = "leo@" + c.address + ".near.test";
    const auto attempt = send_mail_as(e.postfix().port(c.service), c.address, c.name, sender, {"wl-near"});
    REQUIRE(attempt.rcpt.size() == 1);
    CHECK(greylisted(c.service, attempt.rcpt[0]));
    CHECK_MESSAGE(logged(e, "action=greylist, reason=new, client_name=" + c.logged_name +
                         ", client_address=" + c.address + ", sender=" + sender),
                  e.daemon_log());
  }
  CHECK(e.postfix().delivered("wl-near").empty());
}

TEST_CASE("recipient whitelist: postmaster@ passes at once from a greylisted client, milter and policy") {
  auto& e = env();
  const std::vector<std::pair<Service, std::string>> cases = {{Service::kMilter, "10.40.6.70"},
                                                              {Service::kPolicy, "10.40.6.71"}};
  for (const auto& [service, address] : cases) {
    CAPTURE(address);
    const std::size_t before = e.postfix().delivered("postmaster").size();
    const std::string sender = "mia@wl-rcpt.test";
    const auto attempt = send_mail(e, service, address, sender, {"wl-rcpt-new", "postmaster"});
    REQUIRE(attempt.rcpt.size() == 2);
    CHECK(greylisted(service, attempt.rcpt[0]));
    CHECK(attempt.rcpt[1].code == 250);
    CHECK(attempt.data.code == 250);
    CHECK(delivered(e, "postmaster", before).greylist_headers.empty());
    const std::string client = "client_name=" + client_name(address) + ", client_address=" + address +
                               ", sender=" + sender;
    CHECK_MESSAGE(
        logged(e, "action=greylist, reason=new, " + client + ", recipient=wl-rcpt-new@dest.test"),
        e.daemon_log());
    CHECK_MESSAGE(logged(e, "action=pass, reason=recipient whitelist (" +
                                std::string(kRecipientRuleSource) + "), " + client +
                                ", recipient=postmaster@dest.test"),
                  e.daemon_log());
  }
  CHECK(e.postfix().delivered("wl-rcpt-new").empty());
}

// Last: stops the daemon.
TEST_CASE("daemon stopped: Postfix applies milter_default_action (tempfail, accept)") {
  auto& e = env();
  const auto status = e.stop_daemon();
  REQUIRE_MESSAGE(status.has_value(), "greylist-milter did not exit within 2 s of SIGTERM");
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);

  const auto tempfail = send_mail(e, Service::kMilter, "10.40.5.60", "kim@down.test", {"down"});
  CHECK(tempfail.mail.code == 451);
  CHECK(tempfail.mail.last_line.rfind("451 4.7.1 ", 0) == 0);
  CHECK(e.postfix().delivered("down").empty());

  const auto accept =
      send_mail(e, Service::kMilterAccept, "10.40.5.60", "kim@down.test", {"down-accept"});
  CHECK(accept.rcpt.at(0).code == 250);
  CHECK(accept.data.code == 250);
  CHECK(delivered(e, "down-accept", 0).greylist_headers.empty());
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist::testing::e2e
