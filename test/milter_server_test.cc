// MilterServer in-process, driven over the milter protocol by MilterClient
// as Postfix would drive it. libmilter serves once per process, so every
// test case shares one server (MemoryStore, FakeClock); each uses its own
// client addresses and envelopes.
#include "milter/milter_server.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "greylist/greylister.h"
#include "store/memory_store.h"
#include "support/child_process.h"
#include "support/fake_clock.h"
#include "support/milter_client.h"

namespace greylist {
namespace {

using testing::FakeClock;
using testing::MilterClient;
using testing::MilterReply;

constexpr std::uint32_t kAddHeaders = 0x01;     // SMFIF_ADDHDRS
constexpr std::uint32_t kSetSymlist = 0x100;    // SMFIF_SETSYMLIST
constexpr std::uint32_t kNoBody = 0x10;         // SMFIP_NOBODY
constexpr std::uint32_t kNoHeaders = 0x20;      // SMFIP_NOHDRS
constexpr std::uint32_t kNoEoh = 0x40;          // SMFIP_NOEOH
constexpr std::uint32_t kNoUnknown = 0x100;     // SMFIP_NOUNKNOWN
constexpr std::uint32_t kNoData = 0x200;        // SMFIP_NODATA
constexpr std::uint32_t kNoReplyConnect = 0x1000;  // SMFIP_NR_CONN
constexpr std::uint32_t kNoReplyHelo = 0x2000;     // SMFIP_NR_HELO
constexpr std::uint32_t kNoReplyMail = 0x4000;     // SMFIP_NR_MAIL
constexpr std::uint32_t kNoReplyRcpt = 0x8000;     // SMFIP_NR_RCPT
constexpr std::uint32_t kMacrosConnect = 0;    // SMFIM_CONNECT
constexpr std::uint32_t kMacrosHelo = 1;       // SMFIM_HELO
constexpr std::uint32_t kMacrosEnvfrom = 2;     // SMFIM_ENVFROM

// The one server of this process.
struct LiveServer {
  LiveServer() {
    port = testing::free_loopback_port();
    MilterSettings settings;
    settings.socket = parse_socket_spec("inet:127.0.0.1:" + std::to_string(port)).value();
    settings.common.hostname = "mx.test";
    settings.skip_networks = {"127.0.0.0/8", "::1/128", "192.0.2.128/25"};
    auto opened = MilterServer::open(settings, greylister, clock);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    server = std::move(opened).value();
    thread = std::thread([this] { server->run(); });
  }
  ~LiveServer() { shut_down(); }
  void shut_down() {
    server->stop();
    if (thread.joinable()) thread.join();
  }

  // The core's auto-whitelists would let later test cases' "new" triplets
  // through (they share client networks and sender domains): off here,
  // greylister_test covers them.
  static GreylistConfig config() {
    GreylistConfig c;
    c.auto_whitelist_clients = 0;
    c.auto_whitelist_domains = 0;
    return c;
  }

  MemoryStore store;
  FakeClock clock;
  Greylister greylister{config(), store, clock};
  int port = 0;
  std::unique_ptr<MilterServer> server;
  std::thread thread;
};

LiveServer& live() {
  static LiveServer server;
  return server;
}

std::uint64_t triplets() { return live().store.count(Table::kTriplets).value(); }

// A negotiated milter connection, as Postfix opens one per SMTP session.
MilterClient open_milter() {
  auto client = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
  REQUIRE(client.has_value());
  REQUIRE(client->negotiate().has_value());
  return std::move(*client);
}

// CONNECT (+HELO) as Postfix sends them.
void connect_client(MilterClient& m, const std::string& name, const std::string& address,
                    char family = '4') {
  m.macros('C', {{"j", "mx.test"}, {"{daemon_name}", "smtpd"}});
  auto reply = m.connect(name, family, 25, address);
  REQUIRE(reply.has_value());
  CHECK(MilterClient::continues(*reply));
  reply = m.helo("helo.example.org");
  REQUIRE(reply.has_value());
  CHECK(MilterClient::continues(*reply));
}

void mail(MilterClient& m, const std::string& sender, const std::string& auth = "") {
  std::vector<std::pair<std::string, std::string>> values = {{"i", "4XyZ1q2w3"}};
  if (!auth.empty()) values.emplace_back("{auth_authen}", auth);
  m.macros('M', values);
  const auto reply = m.mail({"<" + sender + ">", "SIZE=100"});
  REQUIRE(reply.has_value());
  CHECK(MilterClient::continues(*reply));
}

MilterReply rcpt(MilterClient& m, const std::string& recipient) {
  m.macros('R', {{"i", "4XyZ1q2w3"}});
  auto reply = m.rcpt({"<" + recipient + ">"});
  REQUIRE(reply.has_value());
  return *reply;
}

// Ends the message; returns the headers the milter asked to insert.
std::vector<testing::MilterHeaderChange> end_of_message(MilterClient& m) {
  m.macros('E', {{"i", "4XyZ1q2w3"}});
  const auto replies = m.end_of_message();
  REQUIRE_FALSE(replies.empty());
  CHECK(replies.back().command == 'c');
  std::vector<testing::MilterHeaderChange> headers;
  for (std::size_t i = 0; i + 1 < replies.size(); ++i) {
    auto change = MilterClient::header_change(replies[i]);
    REQUIRE(change.has_value());
    headers.push_back(*change);
  }
  return headers;
}

bool is_greylisted(const MilterReply& reply) {
  return reply.command == 'y' &&
         MilterClient::reply_text(reply).rfind("450 4.2.0 Greylisted, see http://", 0) == 0;
}

TEST_SUITE("milter") {

TEST_CASE("negotiation: no headers, body, DATA or unknown commands; may add headers; asks for macros") {
  auto client = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
  REQUIRE(client.has_value());
  const auto negotiated = client->negotiate();
  REQUIRE(negotiated.has_value());
  CHECK(negotiated->version == 6);
  CHECK(negotiated->actions == (kAddHeaders | kSetSymlist));
  CHECK((negotiated->protocol & kNoBody) != 0);
  CHECK((negotiated->protocol & kNoHeaders) != 0);
  CHECK((negotiated->protocol & kNoEoh) != 0);
  CHECK((negotiated->protocol & kNoData) != 0);
  CHECK((negotiated->protocol & kNoUnknown) != 0);
  REQUIRE(negotiated->macro_lists.count(kMacrosEnvfrom) == 1);
  CHECK(negotiated->macro_lists.at(kMacrosEnvfrom).find("{auth_authen}") != std::string::npos);

  // An MTA that offers no header changes (nor macro lists) still gets greylisting.
  auto plain = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
  REQUIRE(plain.has_value());
  const auto minimal = plain->negotiate(6, 0x04 /* SMFIF_ADDRCPT */, 0x1fffff);
  REQUIRE(minimal.has_value());
  CHECK(minimal->actions == 0);
  CHECK(minimal->macro_lists.empty());
  connect_client(*plain, "mail.example.org", "203.0.113.57");
  mail(*plain, "noheaders@example.org");
  CHECK(is_greylisted(rcpt(*plain, "b@dest.test")));
}

TEST_CASE("no reply to CONNECT, HELO and MAIL when the MTA offers it; a faked continue otherwise") {
  // Postfix (milter protocol 6) offers every "no reply" step.
  auto client = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
  REQUIRE(client.has_value());
  const auto negotiated = client->negotiate();
  REQUIRE(negotiated.has_value());
  CHECK((negotiated->protocol & kNoReplyConnect) != 0);
  CHECK((negotiated->protocol & kNoReplyHelo) != 0);
  CHECK((negotiated->protocol & kNoReplyMail) != 0);
  CHECK((negotiated->protocol & kNoReplyRcpt) == 0);  // RCPT carries the decision
  // Nothing to decide at CONNECT and HELO: the macro lists name only the
  // queue id, which Postfix does not know yet (an empty list would mean
  // Postfix's default macros).
  CHECK(negotiated->macro_lists.at(kMacrosConnect) == "i");
  CHECK(negotiated->macro_lists.at(kMacrosHelo) == "i");
  client->macros('C', {{"j", "mx.test"}});
  REQUIRE(client->connect("mail.example.org", '4', 25, "203.0.113.70").has_value());
  REQUIRE(client->helo("helo.example.org").has_value());
  REQUIRE(client->mail({"<noreply@example.org>"}).has_value());
  CHECK_FALSE(client->read(std::chrono::milliseconds(300)).has_value());  // nothing was sent
  CHECK(is_greylisted(rcpt(*client, "b@dest.test")));  // and the stream is in step

  // An MTA without "no reply" steps gets a "continue" for each, from libmilter.
  auto old = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
  REQUIRE(old.has_value());
  const auto without = old->negotiate(6, 0x1ff, 0x1fffff & ~MilterClient::kNoReplyBits);
  REQUIRE(without.has_value());
  CHECK((without->protocol & MilterClient::kNoReplyBits) == 0);
  auto reply = old->connect("mail.example.org", '4', 25, "203.0.113.71");
  REQUIRE(reply.has_value());
  CHECK(reply->command == 'c');
  reply = old->helo("helo.example.org");
  REQUIRE(reply.has_value());
  CHECK(reply->command == 'c');
  reply = old->mail({"<noreply@example.org>"});
  REQUIRE(reply.has_value());
  CHECK(reply->command == 'c');
  CHECK(is_greylisted(rcpt(*old, "b@dest.test")));
}

TEST_CASE("greylist at RCPT, early retry deferred, pass after the delay with exactly one header") {
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.50");
  mail(m, "a@example.org");
  const MilterReply first = rcpt(m, "b@dest.test");
  CHECK(is_greylisted(first));
  CHECK(MilterClient::reply_text(first) ==
        "450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/dest.test.html");
  m.abort();

  live().clock.advance(120);
  mail(m, "a@example.org");
  CHECK(is_greylisted(rcpt(m, "b@dest.test")));
  m.abort();

  live().clock.advance(181);
  mail(m, "a@example.org");
  CHECK(rcpt(m, "b@dest.test").command == 'c');
  const auto headers = end_of_message(m);
  REQUIRE(headers.size() == 1);
  CHECK(headers[0].command == 'i');
  CHECK(headers[0].index == 0);
  CHECK(headers[0].name == "X-Greylist");
  CHECK(headers[0].value.rfind("delayed 301 seconds by greylist-milter-" GREYLIST_VERSION " at mx.test; ",
                               0) == 0);

  // Second message on the same connection: accepted, no header.
  mail(m, "a@example.org");
  CHECK(rcpt(m, "b@dest.test").command == 'c');
  CHECK(end_of_message(m).empty());
  m.quit();
  CHECK(m.wait_closed());
}

TEST_CASE("each recipient decided on its own: a passed one accepted, a new one deferred") {
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.51");
  mail(m, "multi@example.org");
  CHECK(is_greylisted(rcpt(m, "known@dest.test")));
  m.abort();
  live().clock.advance(301);

  mail(m, "multi@example.org");
  CHECK(rcpt(m, "known@dest.test").command == 'c');
  CHECK(is_greylisted(rcpt(m, "new@dest.test")));
  const auto headers = end_of_message(m);
  REQUIRE(headers.size() == 1);
  CHECK(headers[0].value.rfind("delayed 301 seconds", 0) == 0);
}

TEST_CASE("RSET/abort resets the message: no header leaks into the next one") {
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.52");
  mail(m, "rset@example.org");
  CHECK(is_greylisted(rcpt(m, "b@dest.test")));
  m.abort();
  live().clock.advance(301);
  mail(m, "rset@example.org");
  CHECK(rcpt(m, "b@dest.test").command == 'c');  // first pass: delayed 301 s
  m.abort();                                      // RSET
  mail(m, "rset@example.org");
  CHECK(rcpt(m, "b@dest.test").command == 'c');
  CHECK(end_of_message(m).empty());
}

TEST_CASE("skip networks, SMTP AUTH and address-less clients are not greylisted") {
  const auto before = triplets();
  for (const char* address : {"127.0.0.1", "192.0.2.200"}) {
    CAPTURE(address);
    auto m = open_milter();
    connect_client(m, "localhost", address);
    mail(m, "skip@example.org");
    CHECK(rcpt(m, "skip@dest.test").command == 'c');
    CHECK(end_of_message(m).empty());
  }
  {
    auto m = open_milter();
    connect_client(m, "localhost", "::1", '6');
    mail(m, "skip@example.org");
    CHECK(rcpt(m, "skip@dest.test").command == 'c');
  }
  {
    auto m = open_milter();
    connect_client(m, "mail.example.org", "203.0.113.53");
    mail(m, "user@example.org", "alice");
    CHECK(rcpt(m, "skip@dest.test").command == 'c');
    CHECK(end_of_message(m).empty());
  }
  {
    auto m = open_milter();
    auto reply = m.connect("localhost", 'U');
    REQUIRE(reply.has_value());
    CHECK(MilterClient::continues(*reply));
    mail(m, "root@localhost");
    CHECK(rcpt(m, "skip@dest.test").command == 'c');
  }
  CHECK(triplets() == before);
}

TEST_CASE("IPv6 client greylisted; an unknown name in brackets is fine") {
  auto m = open_milter();
  connect_client(m, "[IPv6:2001:db8:5::7]", "2001:db8:5::7", '6');
  mail(m, "v6@example.org");
  CHECK(is_greylisted(rcpt(m, "v6@dest.test")));
}

TEST_CASE("a new connection on the same milter socket (QUIT_NC) is a new client") {
  auto m = open_milter();
  connect_client(m, "localhost", "127.0.0.1");  // e.g. a proxy's own address: skipped
  mail(m, "local@example.org");
  CHECK(rcpt(m, "b@dest.test").command == 'c');
  CHECK(end_of_message(m).empty());
  REQUIRE(m.quit_nc());  // libmilter accepts QUIT_NC after a message
  connect_client(m, "mail.example.org", "203.0.113.54");
  mail(m, "quitnc@example.org");
  CHECK(is_greylisted(rcpt(m, "b@dest.test")));
}

TEST_CASE("hostile input closes that connection only") {
  SUBCASE("garbage bytes") {
    auto client = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
    REQUIRE(client.has_value());
    client->send_raw(std::string("\x00\x00\x00\x05ZZZZZ\xff\xfe garbage\r\n", 20));
    CHECK(client->wait_closed());
  }
  SUBCASE("oversize packet") {
    auto client = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port));
    REQUIRE(client.has_value());
    client->send_raw(std::string("\x7f\xff\xff\xffO", 5));
    CHECK(client->wait_closed());
  }
  SUBCASE("truncated and malformed commands after negotiation") {
    auto m = open_milter();
    m.send('C', std::string("host\0", 5));  // no family, no address
    CHECK(m.wait_closed());
  }
  SUBCASE("commands out of order") {
    auto m = open_milter();
    // RCPT before CONNECT and MAIL: libmilter ignores it (no answer).
    REQUIRE(m.send('R', std::string("<b@dest.test>\0", 14)));
    CHECK_FALSE(m.read(std::chrono::milliseconds(300)).has_value());
    mail(m, "order@example.org");  // no session: answered, nothing decided
  }
  SUBCASE("peer vanishes mid-message") {
    auto m = open_milter();
    connect_client(m, "mail.example.org", "203.0.113.55");
    mail(m, "gone@example.org");
  }
  // The server still serves.
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.56");
  mail(m, "after@example.org");
  CHECK(is_greylisted(rcpt(m, "b@dest.test")));
}

TEST_CASE("rules: a blacklist rule rejects with 550 5.7.1 over the protocol; a greylist rule's reply is its own") {
  auto rules = RuleSet::parse("racl \"nope\" blacklist rcpt nope@dest.test\n"
                              "racl greylist rcpt slow@dest.test code \"451\" ecode \"4.7.1\" msg \"Later\"\n",
                              "/etc/greylist-milter/rules");
  REQUIRE(rules.ok());
  live().greylister.set_rules(rules.value());
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.58");
  mail(m, "rules@example.org");
  const MilterReply rejected = rcpt(m, "nope@dest.test");
  CHECK(rejected.command == 'y');
  CHECK(MilterClient::reply_text(rejected) == "550 5.7.1 Rejected by local policy (rule nope)");
  const MilterReply slow = rcpt(m, "slow@dest.test");
  CHECK(slow.command == 'y');
  CHECK(MilterClient::reply_text(slow) == "451 4.7.1 Later");
  CHECK(is_greylisted(rcpt(m, "other@dest.test")));
  live().greylister.set_rules(nullptr);
}

TEST_CASE("rules: a rule that names auth matches the {auth_authen} sender; other rules never apply to one") {
  auto rules = RuleSet::parse("racl \"stolen\" blacklist auth mallory\n"
                              "racl \"bulk\" greylist auth /^bulk/\n"
                              "racl \"net\" blacklist addr 203.0.113.59\n",
                              "/etc/greylist-milter/rules");
  REQUIRE(rules.ok());
  live().greylister.set_rules(rules.value());
  const auto before = triplets();
  auto m = open_milter();
  connect_client(m, "mail.example.org", "203.0.113.59");
  mail(m, "user@example.org", "mallory");
  const MilterReply stolen = rcpt(m, "a@dest.test");
  CHECK(stolen.command == 'y');
  CHECK(MilterClient::reply_text(stolen) == "550 5.7.1 Rejected by local policy (rule stolen)");
  mail(m, "user@example.org", "bulk1");
  CHECK(is_greylisted(rcpt(m, "a@dest.test")));
  CHECK(triplets() == before + 1);
  mail(m, "user@example.org", "alice");  // SMTP AUTH: the addr rule is not hers
  CHECK(rcpt(m, "a@dest.test").command == 'c');
  CHECK(end_of_message(m).empty());
  mail(m, "user@example.org");  // not authenticated: the addr rule decides
  const MilterReply net = rcpt(m, "a@dest.test");
  CHECK(net.command == 'y');
  CHECK(MilterClient::reply_text(net) == "550 5.7.1 Rejected by local policy (rule net)");
  CHECK(triplets() == before + 1);
  live().greylister.set_rules(nullptr);
}

TEST_CASE("one MilterServer per process") {
  (void)live();
  MilterSettings settings;
  settings.socket = parse_socket_spec("inet:127.0.0.1:" + std::to_string(testing::free_loopback_port()))
                        .value();
  auto second = MilterServer::open(settings, live().greylister, live().clock);
  CHECK_FALSE(second.ok());
}

// Last in this file: it stops the shared server.
TEST_CASE("stop() makes run() return promptly and closes the socket") {
  (void)live();
  const auto started = std::chrono::steady_clock::now();
  live().shut_down();
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < std::chrono::seconds(2));
  CHECK_FALSE(MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(live().port),
                                        std::chrono::milliseconds(500))
                  .has_value());
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
