// MilterSession: the milter front end's decisions, without libmilter.
#include "milter/milter_session.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

#include "greylist/greylister.h"
#include "greylist/key_layout.h"
#include "greylist/log_line.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "policy/policy_responder.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"
#include "support/spf_zone.h"
#include "support/stderr_capture.h"
#include "util/log.h"

namespace greylist {
namespace {

using testing::FailingStore;
using testing::FakeClock;

class PostmasterWhitelist final : public Whitelist {
 public:
  std::optional<WhitelistMatch> match(const Request& request) const override {
    if (request.recipient.rfind("postmaster@", 0) == 0) {
      return WhitelistMatch{WhitelistMatch::List::kRecipients, "test"};
    }
    return std::nullopt;
  }
};

IpAddress ip(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  REQUIRE(parsed.has_value());
  return *parsed;
}

// A Greylister over a MemoryStore (that tests can make fail), a FakeClock
// and milter settings, and sessions on them.
struct Fixture {
  explicit Fixture(MilterSettings settings = {}, const GreylistConfig& greylisting = config())
      : greylister(greylisting, failing, clock) {
    settings.common.hostname = "mx.test";
    auto made = make_milter_context(std::move(settings), greylister, clock);
    REQUIRE(made.ok());
    context = std::make_unique<MilterContext>(std::move(made).value());
  }

  // A session connected from `address` with one message started.
  std::unique_ptr<MilterSession> session(std::string_view address,
                                         std::string_view sender = "<a@example.org>",
                                         std::string_view name = "mail.example.org") {
    auto s = std::make_unique<MilterSession>(*context);
    s->connect(name, ip(address));
    s->helo("mail.example.org");
    s->mail_from(sender, "");
    return s;
  }

  // The core's auto-whitelists are greylister_test's business.
  static GreylistConfig config() {
    GreylistConfig c;
    c.auto_whitelist_clients = 0;
    c.auto_whitelist_domains = 0;
    return c;
  }

  std::uint64_t triplets() { return memory.count(Table::kTriplets).value(); }

  MemoryStore memory;
  FailingStore failing{memory};
  FakeClock clock;
  Greylister greylister;
  std::unique_ptr<MilterContext> context;
};

using testing::StderrCapture;

TEST_SUITE("milter") {

TEST_CASE("the milter and the policy front end log the same lines for the same decisions") {
  GreylistConfig config;
  config.auto_whitelist_clients = 1;  // the first pass makes the client whitelisted
  config.auto_whitelist_domains = 0;
  config.dynamic_delay = 0;  // the unnamed client passes after --delay
  MemoryStore milter_store, policy_store;
  FakeClock milter_clock, policy_clock;
  Greylister milter_greylister(config, milter_store, milter_clock);
  Greylister policy_greylister(config, policy_store, policy_clock);
  auto context = make_milter_context(MilterSettings{}, milter_greylister, milter_clock);
  REQUIRE(context.ok());
  PolicySettings policy_settings;
  PolicyResponder responder(policy_settings, policy_greylister, policy_clock);
  PolicyRequest policy_request;
  policy_request.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"},
                               {"client_address", "192.0.2.7"},
                               {"client_name", "unknown"},
                               {"sender", "a@example.test"}, {"recipient", "b@example.org"}};

  std::vector<std::string> policy_lines;
  std::vector<std::string> milter_lines;
  {
    StderrCapture capture;
    MilterSession session(context.value());
    session.connect("[192.0.2.7]", ip("192.0.2.7"));  // no verified name
    for (const EpochSeconds step : {0, 301, 10}) {  // new, first pass (whitelisted), AWL
      milter_clock.advance(step);
      policy_clock.advance(step);
      session.mail_from("<a@example.test>", "");
      session.rcpt_to("<b@example.org>");
      session.abort();
      for (const auto& record : responder.respond(policy_request).log) {
        policy_lines.push_back(record.message);
      }
    }
    milter_lines = capture.messages();
  }
  CHECK(policy_lines.size() == 4);
  CHECK(policy_lines == milter_lines);
  CHECK(std::find(policy_lines.begin(), policy_lines.end(),
                  "whitelisted: 192.0.2.7") != policy_lines.end());
}

TEST_CASE("a new triplet is deferred with 450 4.2.0 and the greylist text") {
  Fixture f;
  auto s = f.session("203.0.113.7");
  const RcptReply reply = s->rcpt_to("<b@dest.test>");
  CHECK(reply.tempfail);
  CHECK(reply.code == "450");
  CHECK(reply.enhanced_code == "4.2.0");
  CHECK(reply.text == "Greylisted, see http://postgrey.schweikert.ch/help/dest.test.html");
  CHECK(f.triplets() == 1);
}

TEST_CASE("early retry is deferred, a retry after the delay passes with one header") {
  Fixture f;
  auto s = f.session("203.0.113.7");
  CHECK(s->rcpt_to("<b@dest.test>").tempfail);
  s->abort();  // Postfix aborts the transaction after a lone deferred RCPT

  f.clock.advance(299);
  s->mail_from("<a@example.org>", "");
  CHECK(s->rcpt_to("<b@dest.test>").tempfail);
  s->abort();

  f.clock.advance(2);
  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
  const auto header = s->end_of_message();
  REQUIRE(header.has_value());
  CHECK(header->name == "X-Greylist");
  CHECK(header->value.rfind("delayed 301 seconds by greylist-milter-" GREYLIST_VERSION " at mx.test; ",
                            0) == 0);

  // The next message of the same triplet: accepted, no header.
  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
  CHECK_FALSE(s->end_of_message().has_value());
}

TEST_CASE("each recipient is decided on its own; the header carries the longest delay") {
  Fixture f;
  auto s = f.session("203.0.113.8");
  CHECK(s->rcpt_to("<one@dest.test>").tempfail);
  s->abort();
  f.clock.advance(100);
  s->mail_from("<a@example.org>", "");
  CHECK(s->rcpt_to("<two@dest.test>").tempfail);
  s->abort();
  f.clock.advance(400);  // one: 500 s old, two: 400 s old

  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<one@dest.test>").tempfail);
  CHECK_FALSE(s->rcpt_to("<two@dest.test>").tempfail);
  CHECK(s->rcpt_to("<three@dest.test>").tempfail);  // new: deferred, the others stay accepted
  const auto header = s->end_of_message();
  REQUIRE(header.has_value());
  CHECK(header->value.rfind("delayed 500 seconds", 0) == 0);

  // Already passed + new: the passed one is accepted without a header.
  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<one@dest.test>").tempfail);
  CHECK(s->rcpt_to("<four@dest.test>").tempfail);
  CHECK_FALSE(s->end_of_message().has_value());
}

TEST_CASE("RSET and aborted transactions forget the message") {
  Fixture f;
  auto s = f.session("203.0.113.9");
  CHECK(s->rcpt_to("<b@dest.test>").tempfail);
  s->abort();
  f.clock.advance(301);

  SUBCASE("a delay seen in an aborted transaction gives no header later") {
    s->mail_from("<a@example.org>", "");
    CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);  // first pass, delayed 301 s
    s->abort();                                          // RSET before DATA
    s->mail_from("<a@example.org>", "");
    CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
    CHECK_FALSE(s->end_of_message().has_value());
  }
  SUBCASE("SMTP AUTH of an aborted message does not carry over") {
    s->mail_from("<x@example.org>", "alice");
    CHECK_FALSE(s->rcpt_to("<new@dest.test>").tempfail);
    s->abort();
    s->mail_from("<x@example.org>", "");
    CHECK(s->rcpt_to("<new@dest.test>").tempfail);
  }
  SUBCASE("a new MAIL FROM without RSET starts a new message") {
    s->mail_from("<a@example.org>", "");
    CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
    s->mail_from("<a@example.org>", "");
    CHECK_FALSE(s->end_of_message().has_value());
  }
}

TEST_CASE("SMTP AUTH and rules that name auth: the milter and the policy front end decide and log alike") {
  const char* const text = "racl \"stolen\" blacklist auth mallory\n"
                           "racl \"bulk\" greylist auth /^bulk/ delay 10m\n"
                           "racl \"net\" blacklist addr 192.0.2.0/24\n";
  auto rules = RuleSet::parse(text, "/etc/greylist-milter/rules");
  REQUIRE(rules.ok());
  MemoryStore milter_store, policy_store;
  FakeClock milter_clock, policy_clock;
  Greylister milter_greylister(Fixture::config(), milter_store, milter_clock);
  Greylister policy_greylister(Fixture::config(), policy_store, policy_clock);
  milter_greylister.set_rules(rules.value());
  policy_greylister.set_rules(rules.value());
  auto context = make_milter_context(MilterSettings{}, milter_greylister, milter_clock);
  REQUIRE(context.ok());
  PolicySettings policy_settings;
  PolicyResponder responder(policy_settings, policy_greylister, policy_clock);

  std::vector<std::string> policy_lines, milter_lines, policy_replies;
  std::vector<RcptReply> milter_replies;
  {
    StderrCapture capture;
    MilterSession session(context.value());
    session.connect("[192.0.2.7]", ip("192.0.2.7"));
    for (const char* user : {"alice", "mallory", "bulk7", ""}) {
      session.mail_from("<a@example.test>", user);
      milter_replies.push_back(session.rcpt_to("<b@example.org>"));
      session.abort();
      PolicyRequest request;
      request.attributes = {{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"},
                            {"client_address", "192.0.2.7"}, {"client_name", "unknown"},
                            {"sender", "a@example.test"}, {"recipient", "b@example.org"},
                            {"sasl_username", user}};
      const PolicyAnswer answer = responder.respond(request);
      policy_replies.push_back(answer.reply);
      for (const auto& record : answer.log) policy_lines.push_back(record.message);
    }
    milter_lines = capture.messages();
  }
  CHECK(policy_lines == milter_lines);
  REQUIRE(milter_lines.size() == 4);
  const std::string client = "client_name=unknown, client_address=192.0.2.7";
  CHECK(milter_lines[0].find("action=pass, reason=SMTP AUTH, " + client) != std::string::npos);
  CHECK(milter_lines[1].find("action=reject, reason=rule blacklist, "
                             "rule=/etc/greylist-milter/rules:1 (stolen), " + client) !=
        std::string::npos);
  CHECK(milter_lines[2].find("action=greylist, reason=new, rule=/etc/greylist-milter/rules:2 (bulk), " +
                             client) != std::string::npos);
  CHECK(milter_lines[3].find("action=reject, reason=rule blacklist, "
                             "rule=/etc/greylist-milter/rules:3 (net), " + client) !=
        std::string::npos);
  CHECK_FALSE(milter_replies[0].tempfail);
  CHECK_FALSE(milter_replies[0].reject);
  CHECK(milter_replies[1].reject);
  CHECK(milter_replies[2].tempfail);
  CHECK(milter_replies[3].reject);
  CHECK(policy_replies[0] == "action=DUNNO\n\n");
  CHECK(policy_replies[1].rfind("action=550 5.7.1 ", 0) == 0);
  CHECK(policy_replies[2].rfind("action=DEFER_IF_PERMIT ", 0) == 0);
  CHECK(policy_replies[3].rfind("action=550 5.7.1 ", 0) == 0);
}

TEST_CASE("clients in skip networks are not greylisted and the store is not touched") {
  MilterSettings settings;
  settings.skip_networks = {"127.0.0.0/8", "::1/128", "198.51.100.0/24"};
  Fixture f(settings);
  for (const char* address : {"127.0.0.1", "::1", "198.51.100.77", "::ffff:127.0.0.1"}) {
    CAPTURE(address);
    auto s = f.session(address);
    CHECK(s->skip_reason().rfind("skip networks (", 0) == 0);
    CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
    CHECK_FALSE(s->end_of_message().has_value());
  }
  CHECK(f.triplets() == 0);
  auto outside = f.session("198.51.101.1");
  CHECK(outside->skip_reason().empty());
  CHECK(outside->rcpt_to("<b@dest.test>").tempfail);
}

TEST_CASE("SMTP AUTH clients and clients without an address are not greylisted") {
  Fixture f;
  f.failing.fail_reads = true;  // the core's SMTP AUTH step reads no store
  f.failing.fail_writes = true;
  auto authenticated = f.session("203.0.113.10");
  authenticated->mail_from("<me@example.org>", "alice");
  {
    StderrCapture capture;
    CHECK_FALSE(authenticated->rcpt_to("<b@dest.test>").tempfail);
    const auto lines = capture.messages();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("action=pass, reason=SMTP AUTH, client_name=mail.example.org") !=
          std::string::npos);
  }
  CHECK(f.failing.calls == 0);
  f.failing.fail_reads = false;
  f.failing.fail_writes = false;
  // The next message of the connection is not authenticated: greylisted.
  authenticated->mail_from("<me@example.org>", "");
  CHECK(authenticated->rcpt_to("<b@dest.test>").tempfail);
  CHECK(f.triplets() == 1);

  MilterSession local(*f.context);
  local.connect("localhost", std::nullopt);
  CHECK(local.skip_reason() == "no client address");
  local.mail_from("<root@localhost>", "");
  CHECK_FALSE(local.rcpt_to("<b@dest.test>").tempfail);
  CHECK(f.triplets() == 1);  // the unauthenticated message's only
}

TEST_CASE("client names: a bracketed address or none is 'unknown'") {
  Fixture f;
  MilterSession s(*f.context);
  s.connect("[203.0.113.11]", ip("203.0.113.11"));
  CHECK(s.client_name() == "unknown");
  s.connect("[IPv6:2001:db8::1]", ip("2001:db8::1"));
  CHECK(s.client_name() == "unknown");
  s.connect("", ip("203.0.113.11"));
  CHECK(s.client_name() == "unknown");
  s.connect("mx.example.net", ip("203.0.113.11"));
  CHECK(s.client_name() == "mx.example.net");
  CHECK(s.client_address() == "203.0.113.11");
}

TEST_CASE("a second connect (XCLIENT) replaces the client, including its skip status") {
  Fixture f;
  MilterSession s(*f.context);
  s.connect("localhost", ip("127.0.0.1"));  // the proxy's own address: skipped
  CHECK_FALSE(s.skip_reason().empty());
  s.connect("mail.example.org", ip("203.0.113.12"));  // the XCLIENT address
  CHECK(s.skip_reason().empty());
  CHECK(s.client_address() == "203.0.113.12");
  s.mail_from("<a@example.org>", "");
  CHECK(s.rcpt_to("<b@dest.test>").tempfail);
}

TEST_CASE("IPv6 clients are keyed on their /64") {
  Fixture f;
  auto first = f.session("2001:db8:1:2::5", "<a@example.org>", "v6.example.org");
  CHECK(first->client_address() == "2001:db8:1:2::5");
  CHECK(first->rcpt_to("<b@dest.test>").tempfail);
  f.clock.advance(301);
  auto neighbour = f.session("2001:db8:1:2::99");
  CHECK_FALSE(neighbour->rcpt_to("<b@dest.test>").tempfail);
  auto elsewhere = f.session("2001:db8:1:3::5");
  CHECK(elsewhere->rcpt_to("<b@dest.test>").tempfail);
}

TEST_CASE("envelope addresses: brackets removed, null sender, ESMTP args ignored") {
  Fixture f;
  auto s = f.session("203.0.113.13", "<>");
  CHECK(s->rcpt_to("< b@dest.test >").tempfail);
  f.clock.advance(301);
  s->mail_from("", "");  // same triplet: null sender, bracket/space forms
  CHECK_FALSE(s->rcpt_to("b@dest.test").tempfail);
}

TEST_CASE("reply text: '%' doubled for libmilter, controls replaced, length bounded") {
  MilterSettings settings;
  settings.common.greylist_text = "100% sure: retry in %s seconds for %r";
  Fixture f(settings);
  auto s = f.session("203.0.113.14");
  const RcptReply reply = s->rcpt_to("<b@dest\r\n.test>");
  REQUIRE(reply.tempfail);
  CHECK(reply.text == "100%% sure: retry in 300 seconds for dest??.test");

  CHECK(escape_milter_reply("a%b\r\nc") == "a%%b??c");
  const std::string long_text(5000, '%');
  CHECK(escape_milter_reply(long_text).size() == 2 * kMaxReplyText);
}

TEST_CASE("configurable reply codes; bad codes and networks are refused") {
  MilterSettings settings;
  settings.reply_code = "451";
  settings.enhanced_code = "4.7.1";
  Fixture f(settings);
  auto s = f.session("203.0.113.15");
  const RcptReply reply = s->rcpt_to("<b@dest.test>");
  CHECK(reply.code == "451");
  CHECK(reply.enhanced_code == "4.7.1");

  MemoryStore store;
  FakeClock clock;
  Greylister greylister(GreylistConfig{}, store, clock);
  const auto refused = [&](MilterSettings bad) {
    return !make_milter_context(std::move(bad), greylister, clock).ok();
  };
  MilterSettings bad;
  bad.reply_code = "550";
  CHECK(refused(bad));
  bad = {};
  bad.reply_code = "45";
  CHECK(refused(bad));
  bad = {};
  bad.enhanced_code = "5.2.0";
  CHECK(refused(bad));
  bad = {};
  bad.enhanced_code = "4.2";
  CHECK(refused(bad));
  bad = {};
  bad.enhanced_code = "4.2.0 x";
  CHECK(refused(bad));
  bad = {};
  bad.skip_networks = {"10.0.0.0/33"};
  CHECK(refused(bad));
  bad = {};
  bad.skip_networks = {"not-a-network"};
  CHECK(refused(bad));
}

TEST_CASE("--x-greylist-header-always: a short 'not delayed' header") {
  MilterSettings settings;
  settings.header_always = true;
  settings.skip_networks = {"127.0.0.0/8"};
  Fixture f(settings);
  f.greylister.set_whitelist(std::make_shared<PostmasterWhitelist>());
  const auto value_of = [](MilterSession& s) {
    auto header = s.end_of_message();
    REQUIRE(header.has_value());
    CHECK(header->name == "X-Greylist");
    return header->value;
  };
  const std::string suffix = ", not delayed by greylist-milter-" GREYLIST_VERSION " at mx.test; ";

  auto s = f.session("203.0.113.16");
  CHECK(s->rcpt_to("<b@dest.test>").tempfail);
  s->abort();
  f.clock.advance(301);
  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
  CHECK(value_of(*s).rfind("delayed 301 seconds", 0) == 0);  // delayed: the normal header
  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
  CHECK(value_of(*s).rfind("Passed greylisting before" + suffix, 0) == 0);

  s->mail_from("<a@example.org>", "");
  CHECK_FALSE(s->rcpt_to("<postmaster@dest.test>").tempfail);
  CHECK(value_of(*s).rfind("Recipient whitelisted" + suffix, 0) == 0);

  s->mail_from("<a@example.org>", "bob");
  CHECK_FALSE(s->rcpt_to("<c@dest.test>").tempfail);
  CHECK(value_of(*s).rfind("Sender succeeded SMTP AUTH" + suffix, 0) == 0);

  auto local = f.session("127.0.0.1");
  CHECK_FALSE(local->rcpt_to("<c@dest.test>").tempfail);
  CHECK(value_of(*local).rfind("Sender IP in skip networks" + suffix, 0) == 0);

  // A message no recipient of which was accepted by us gets nothing.
  auto deferred = f.session("203.0.113.17");
  CHECK(deferred->rcpt_to("<d@dest.test>").tempfail);
  CHECK_FALSE(deferred->end_of_message().has_value());
}

TEST_CASE("store failure: --on-error accept lets the mail through, tempfail answers 451 4.3.0") {
  SUBCASE("accept") {
    MilterSettings settings;
    settings.header_always = true;
    Fixture f(settings);
    f.failing.fail_reads = true;
    f.failing.fail_writes = true;
    auto s = f.session("203.0.113.18");
    CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
    const auto header = s->end_of_message();
    REQUIRE(header.has_value());
    CHECK(header->value.rfind("Greylisting unavailable, not delayed", 0) == 0);
  }
  SUBCASE("tempfail") {
    MilterSettings settings;
    settings.common.on_error = OnError::kTempfail;
    Fixture f(settings);
    f.failing.fail_reads = true;
    f.failing.fail_writes = true;
    auto s = f.session("203.0.113.18");
    const RcptReply reply = s->rcpt_to("<b@dest.test>");
    CHECK(reply.tempfail);
    CHECK(reply.code == "451");
    CHECK(reply.enhanced_code == "4.3.0");
    CHECK(rcpt_reply_on_error(OnError::kAccept).tempfail == false);
  }
}

TEST_CASE("hostile envelope input is bounded and never breaks the session") {
  Fixture f;
  auto s = f.session("203.0.113.19", std::string(100000, 'x') + "@example.org",
                     std::string(70000, 'h'));
  CHECK(s->client_name().size() == kMaxMilterField);
  s->helo(std::string("\0\xff\r\n", 4));
  const RcptReply reply = s->rcpt_to(std::string(100000, 'r') + "@dest.test");
  CHECK(reply.tempfail);
  CHECK(reply.text.size() <= 2 * kMaxReplyText);
  CHECK(reply.text.find_first_of("\r\n") == std::string::npos);
  s->set_queue_id(std::string(1000, 'Q'));
  CHECK_FALSE(s->end_of_message().has_value());
}

// A DnsResolver answering from a table at once, or never (`silent`).
class TableResolver final : public DnsResolver {
 public:
  DnsAnswers table;
  bool silent = false;
  int lookups = 0;
  void resolve(std::vector<std::string> names, Callback done) override {
    ++lookups;
    if (silent) {
      held_.push_back(std::move(done));  // never called
      return;
    }
    DnsAnswers answers;
    for (const auto& name : names) {
      const auto found = table.find(name);
      answers[name] = found != table.end() ? found->second : DnsAnswer{DnsAnswer::Kind::kNotListed, {}};
    }
    done(std::move(answers));
  }

 private:
  std::vector<Callback> held_;
};

void set_rules(Fixture& f, const char* text) {
  auto rules = RuleSet::parse(text, "/etc/greylist-milter/rules");
  REQUIRE_MESSAGE(rules.ok(), rules.status().message());
  f.greylister.set_rules(rules.value());
}

TEST_CASE("a blacklist rule rejects with 550 5.7.1 (or its own code, ecode, msg); nothing stored") {
  Fixture f;
  set_rules(f, "racl \"nope\" blacklist rcpt nope@dest.test\n"
               "racl blacklist rcpt own@dest.test code \"554\" ecode \"5.7.26\" msg \"100% spam\"\n");
  auto s = f.session("203.0.113.30");
  const RcptReply reply = s->rcpt_to("<nope@dest.test>");
  CHECK(reply.reject);
  CHECK_FALSE(reply.tempfail);
  CHECK(reply.code == "550");
  CHECK(reply.enhanced_code == "5.7.1");
  CHECK(reply.text == "Rejected by local policy (rule nope)");
  const RcptReply own = s->rcpt_to("<own@dest.test>");
  CHECK(own.reject);
  CHECK(own.code == "554");
  CHECK(own.enhanced_code == "5.7.26");
  CHECK(own.text == "100%% spam");
  CHECK(f.triplets() == 0);
}

TEST_CASE("a greylist rule's code, ecode and msg replace the milter's deferral reply") {
  Fixture f;
  set_rules(f, "racl greylist rcpt @slow.test delay 1h code \"451\" ecode \"4.7.1\" msg \"Slow: 50% off\"\n");
  auto s = f.session("203.0.113.31");
  const RcptReply reply = s->rcpt_to("<b@slow.test>");
  CHECK(reply.tempfail);
  CHECK_FALSE(reply.reject);
  CHECK(reply.code == "451");
  CHECK(reply.enhanced_code == "4.7.1");
  CHECK(reply.text == "Slow: 50%% off");
  f.clock.advance(301);  // past --delay, not past the rule's hour
  CHECK(s->rcpt_to("<b@slow.test>").tempfail);
  CHECK(s->rcpt_to("<c@dest.test>").code == "450");  // no rule: the milter's own
}

TEST_CASE("DNS lists at RCPT: a listed client is rejected; a silent list waits --dns-timeout, then not listed") {
  TableResolver resolver;
  resolver.table["30.113.0.203.bl.test"] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
  MilterSettings settings;
  settings.common.dns = DnsLists{&resolver, nullptr, std::chrono::milliseconds(200)};
  Fixture f(settings);
  set_rules(f, "dnsrbl \"bl\" bl.test 127.0.0.2\nracl \"bl\" blacklist dnsrbl \"bl\"\n");
  CHECK(f.session("203.0.113.30")->rcpt_to("<b@dest.test>").reject);
  CHECK(f.session("203.0.113.31")->rcpt_to("<b@dest.test>").tempfail);
  CHECK(resolver.lookups == 2);

  resolver.silent = true;
  const auto start = std::chrono::steady_clock::now();
  const RcptReply reply = f.session("203.0.113.30")->rcpt_to("<c@dest.test>");
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(reply.tempfail);  // greylisted: the unanswered list is "not listed"
  CHECK_FALSE(reply.reject);
  CHECK(waited >= std::chrono::milliseconds(190));
  CHECK(waited < std::chrono::milliseconds(2000));
}

TEST_CASE("DNS lists at RCPT: a client the client auto-whitelist passes is not looked up") {
  TableResolver resolver;
  MilterSettings settings;
  settings.common.dns = DnsLists{&resolver, nullptr, std::chrono::milliseconds(200)};
  GreylistConfig config = Fixture::config();
  config.auto_whitelist_clients = 1;
  config.client_awl_key = GreylistConfig::ClientAwlKey::kNetwork;
  Fixture f(settings, config);
  set_rules(f, "dnsrbl \"bl\" bl.test 127.0.0.2\nracl \"bl\" blacklist dnsrbl \"bl\"\n");
  Request known;
  known.client_address = "203.0.113.30";
  REQUIRE(f.memory.put(Table::kClients, f.greylister.client_key(known),
                       encode_client({1, f.clock.now()}), 0).ok());
  const RcptReply passed = f.session("203.0.113.30")->rcpt_to("<b@dest.test>");
  CHECK_FALSE(passed.tempfail);
  CHECK_FALSE(passed.reject);
  CHECK(resolver.lookups == 0);
  CHECK(f.session("198.51.100.30")->rcpt_to("<b@dest.test>").tempfail);
  CHECK(resolver.lookups == 1);  // another client's is
}

TEST_CASE("a rule whitelist passes at once; the 'not delayed' header names it") {
  MilterSettings settings;
  settings.header_always = true;
  Fixture f(settings);
  set_rules(f, "racl whitelist addr 203.0.113.32\n");
  auto s = f.session("203.0.113.32");
  CHECK_FALSE(s->rcpt_to("<b@dest.test>").tempfail);
  const auto header = s->end_of_message();
  REQUIRE(header);
  CHECK(header->value.rfind(std::string(kNotDelayedRuleWhitelist) + ", not delayed", 0) == 0);
}

TEST_CASE("--pool-by-spf at RCPT: a pass from another authorized network is the same triplet; "
          "fail and a check past --dns-timeout are keyed by network, the timeout logged") {
  testing::SpfZone zone;
  zone.txt("pool.test", {"v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 -all"});
  testing::FakeRecordResolver resolver(zone);
  SpfCheckerOptions options;
  options.timeout = std::chrono::milliseconds(200);
  SpfChecker checker(resolver, options);
  MilterSettings settings;
  settings.common.spf.checker = &checker;
  settings.common.spf.wait = std::chrono::milliseconds(200);
  settings.common.spf.temperror_log = std::make_shared<RateLimitedLog>(std::chrono::seconds(300));
  GreylistConfig config = Fixture::config();
  config.pool_by_domain = false;
  config.pool_by_spf = true;
  Fixture f(settings, config);
  StderrCapture log;
  CHECK(f.session("192.0.2.7", "<a@pool.test>")->rcpt_to("<b@dest.test>").tempfail);
  f.clock.advance(301);
  CHECK_FALSE(f.session("198.51.100.9", "<a@pool.test>")->rcpt_to("<b@dest.test>").tempfail);
  CHECK(f.session("203.0.113.5", "<a@pool.test>")->rcpt_to("<b@dest.test>").tempfail);
  CHECK(f.triplets() == 2);

  CHECK(log.count("reason=pool (spf:pool.test)") == 1);
  resolver.hold(true);
  const auto start = std::chrono::steady_clock::now();
  // Addresses not checked before (a verdict is cached per domain and address).
  CHECK(f.session("192.0.2.50", "<c@pool.test>")->rcpt_to("<b@dest.test>").tempfail);
  CHECK(f.session("192.0.2.51", "<d@pool.test>")->rcpt_to("<b@dest.test>").tempfail);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(380));
  CHECK(waited < std::chrono::milliseconds(3000));
  CHECK(f.triplets() == 4);
  CHECK(log.count("SPF check of pool.test for 192.0.2.") == 1);
  resolver.hold(false);
  resolver.release();
}

TEST_CASE("--pool-by-spf: one SPF check per message, its result reused for every recipient") {
  testing::SpfZone zone;
  zone.txt("pool.test", {"v=spf1 ip4:192.0.2.0/24 -all"});
  zone.txt("other.test", {"v=spf1 -all"});
  testing::FakeRecordResolver resolver(zone);
  SpfChecker checker(resolver);
  MilterSettings settings;
  settings.common.spf.checker = &checker;
  settings.common.spf.wait = std::chrono::milliseconds(200);
  GreylistConfig config = Fixture::config();
  config.pool_by_domain = false;
  config.pool_by_spf = true;
  Fixture f(settings, config);
  const auto stored = [&f](const std::string& client, const std::string& sender, const std::string& to) {
    auto found = f.memory.get(Table::kTriplets, encode_triplet_key(client, normalize_sender(sender), to));
    return found.ok() && found.value().has_value();
  };

  auto s = f.session("192.0.2.7", "<a@pool.test>");
  for (const char* to : {"<b@dest.test>", "<c@dest.test>", "<d@dest.test>"}) {
    CHECK(s->rcpt_to(to).tempfail);
  }
  CHECK(checker.stats().checks == 1);
  for (const char* to : {"b@dest.test", "c@dest.test", "d@dest.test"}) {
    CHECK(stored(spf_pool_client("pool.test"), "a@pool.test", to));
  }
  // The next message of the connection checks its own sender: a fail.
  s->abort();
  s->mail_from("<e@other.test>", "");
  CHECK(s->rcpt_to("<b@dest.test>").tempfail);
  CHECK(s->rcpt_to("<c@dest.test>").tempfail);
  CHECK(checker.stats().checks == 2);
  CHECK(stored("192.0.2.0", "e@other.test", "b@dest.test"));
  CHECK(stored("192.0.2.0", "e@other.test", "c@dest.test"));

  // A silent DNS server: the message waits for one timeout, not one per
  // recipient, and every recipient is keyed by network.
  resolver.hold(true);
  auto silent = f.session("192.0.2.8", "<f@pool.test>");
  const auto start = std::chrono::steady_clock::now();
  for (const char* to : {"<b@dest.test>", "<c@dest.test>", "<d@dest.test>"}) {
    CHECK(silent->rcpt_to(to).tempfail);
  }
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(190));
  CHECK(checker.stats().checks == 3);
  CHECK(resolver.queries() == 3);  // pool.test's TXT, other.test's TXT, the held one
  CHECK(stored("192.0.2.0", "f@pool.test", "d@dest.test"));
  resolver.hold(false);
  resolver.expire();
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
