// PolicyResponder over a real Greylister, a MemoryStore and a FakeClock:
// the exact reply bytes and log lines for each kind of request.
#include "policy/policy_responder.h"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "greylist/record_codec.h"
#include "greylist/reply_text.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"

using namespace greylist;
using greylist::testing::FailingStore;
using greylist::testing::FakeClock;

namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;

const std::string kGreylisted =
    "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/example.org.html\n\n";
const std::string kDunno = "action=DUNNO\n\n";

Attributes rcpt(const std::string& recipient = "b@example.org",
                const std::string& instance = "1a2b.3c4d.0") {
  return {
      {"request", "smtpd_access_policy"},
      {"protocol_state", "RCPT"},
      {"protocol_name", "ESMTP"},
      {"client_address", "192.0.2.7"},
      {"client_name", "mail.example.test"},
      {"helo_name", "mail.example.test"},
      {"sender", "a@example.test"},
      {"recipient", recipient},
      {"queue_id", ""},
      {"instance", instance},
  };
}

Attributes with(Attributes attributes, const std::string& name, const std::string& value) {
  for (auto& [n, v] : attributes) {
    if (n == name) {
      v = value;
      return attributes;
    }
  }
  attributes.emplace_back(name, value);
  return attributes;
}

Attributes without(Attributes attributes, const std::string& name) {
  std::erase_if(attributes, [&](const auto& a) { return a.first == name; });
  return attributes;
}

PolicyRequest request(Attributes attributes) {
  PolicyRequest r;
  r.attributes = std::move(attributes);
  return r;
}

PolicySettings settings() {
  PolicySettings s;
  s.common.hostname = "mx.test";
  return s;
}

bool logged(const PolicyAnswer& answer, const std::string& message,
            Severity severity = Severity::kWarning) {
  for (const auto& record : answer.log) {
    if (record.message == message && record.severity == severity) return true;
  }
  return false;
}

std::size_t triplets(MemoryStore& store) { return store.count(Table::kTriplets).value(); }

// A Clock that throws on its n-th reading (1-based), to reach the
// responder's own exception boundary.
class ThrowingClock final : public Clock {
 public:
  explicit ThrowingClock(EpochSeconds now) : now_(now) {}
  EpochSeconds now() const override {
    if (++calls_ == throw_on_call) throw std::runtime_error("clock broke");
    return now_;
  }
  void advance(EpochSeconds s) { now_ += s; }
  std::atomic<int> throw_on_call{0};

 private:
  std::atomic<EpochSeconds> now_;
  mutable std::atomic<int> calls_{0};
};

struct Fixture {
  MemoryStore store;
  FakeClock clock{1'795'590'188};
  PolicySettings policy = settings();
  GreylistConfig config;
  Greylister greylister{config, store, clock};
  PolicyResponder responder{policy, greylister, clock};
};

}  // namespace

TEST_SUITE("policy_responder") {

TEST_CASE("new triplet: the greylist reply exactly, and postgrey's log line") {
  Fixture f;
  const PolicyAnswer answer = f.responder.respond(request(rcpt()));
  CHECK(answer.reply == kGreylisted);
  REQUIRE(answer.log.size() == 1);
  CHECK(answer.log[0].kind == PolicyLogRecord::Kind::kDecision);
  CHECK(answer.log[0].severity == Severity::kInfo);
  CHECK(answer.log[0].message ==
        "action=greylist, reason=new, client_name=mail.example.test, client_address=192.0.2.7, "
        "sender=a@example.test, recipient=b@example.org");
  CHECK(triplets(f.store) == 1);
}

TEST_CASE("early retry: greylisted again with the seconds left in %s") {
  Fixture f;
  f.policy.common.greylist_text = "Greylisted for %s seconds, see https://x.test/%r";
  CHECK(f.responder.respond(request(rcpt())).reply ==
        "action=DEFER_IF_PERMIT Greylisted for 300 seconds, see https://x.test/example.org\n\n");
  f.clock.advance(60);
  const PolicyAnswer answer = f.responder.respond(request(rcpt()));
  CHECK(answer.reply ==
        "action=DEFER_IF_PERMIT Greylisted for 240 seconds, see https://x.test/example.org\n\n");
  CHECK(logged(answer,
               "action=greylist, reason=early-retry (240s missing), client_name=mail.example.test, "
               "client_address=192.0.2.7, sender=a@example.test, recipient=b@example.org",
               Severity::kInfo));
}

TEST_CASE("pass after the delay: PREPEND the header once, then DUNNO") {
  Fixture f;
  CHECK(f.responder.respond(request(rcpt())).reply == kGreylisted);
  f.clock.advance(301);
  const PolicyAnswer pass = f.responder.respond(request(rcpt()));
  const std::string header = format_greylist_header(kDefaultHeaderTemplate, 301, "mx.test",
                                                    1'795'590'188 + 301);
  CHECK(pass.reply == "action=PREPEND " + header + "\n\n");
  CHECK(pass.reply.rfind("action=PREPEND X-Greylist: delayed 301 seconds by greylist-milter-", 0) ==
        0);
  CHECK(pass.reply.find(" at mx.test; ") != std::string::npos);
  CHECK(logged(pass,
               "action=pass, reason=triplet found, delay=301, client_name=mail.example.test, "
               "client_address=192.0.2.7, sender=a@example.test, recipient=b@example.org",
               Severity::kInfo));
  // The next message with the same triplet passes without a header.
  f.clock.advance(10);
  CHECK(f.responder.respond(request(rcpt("b@example.org", "next.message"))).reply == kDunno);
}

TEST_CASE("multi-recipient message: one header per instance on a connection") {
  Fixture f;
  CHECK(f.responder.respond(request(rcpt("b@example.org", "m1"))).reply == kGreylisted);
  CHECK(f.responder.respond(request(rcpt("c@example.org", "m1"))).reply == kGreylisted);
  CHECK(f.responder.respond(request(rcpt("d@example.org", "m1"))).reply == kGreylisted);
  f.clock.advance(400);
  CHECK(f.responder.respond(request(rcpt("b@example.org", "m2"))).reply.rfind("action=PREPEND ", 0) ==
        0);
  // Same instance, also a first pass: no second header.
  const PolicyAnswer second = f.responder.respond(request(rcpt("c@example.org", "m2")));
  CHECK(second.reply == kDunno);
  CHECK(logged(second,
               "action=pass, reason=triplet found, delay=400, client_name=mail.example.test, "
               "client_address=192.0.2.7, sender=a@example.test, recipient=c@example.org",
               Severity::kInfo));
  // Another message on the same connection gets its own header.
  CHECK(f.responder.respond(request(rcpt("d@example.org", "m3"))).reply.rfind("action=PREPEND ", 0) ==
        0);
}

TEST_CASE("without an instance every first pass gets a header; another connection has its own memory") {
  Fixture f;
  f.responder.respond(request(rcpt("b@example.org", "")));
  f.responder.respond(request(rcpt("c@example.org", "")));
  f.responder.respond(request(rcpt("d@example.org", "m")));
  f.clock.advance(301);
  CHECK(f.responder.respond(request(rcpt("b@example.org", ""))).reply.rfind("action=PREPEND ", 0) == 0);
  CHECK(f.responder.respond(request(rcpt("c@example.org", ""))).reply.rfind("action=PREPEND ", 0) == 0);
  PolicyResponder other(f.policy, f.greylister, f.clock);
  CHECK(other.respond(request(rcpt("d@example.org", "m"))).reply.rfind("action=PREPEND ", 0) == 0);
}

TEST_CASE("unrecognized or missing request type: DUNNO and a warning, nothing stored") {
  Fixture f;
  PolicyAnswer answer = f.responder.respond(request(with(rcpt(), "request", "junk_policy")));
  CHECK(answer.reply == kDunno);
  CHECK(logged(answer, "unrecognized request type: 'junk_policy'"));
  CHECK(answer.log[0].kind == PolicyLogRecord::Kind::kPeer);
  answer = f.responder.respond(request(without(rcpt(), "request")));
  CHECK(answer.reply == kDunno);
  CHECK(logged(answer, "unrecognized request type: ''"));
  answer = f.responder.respond(request(with(rcpt(), "request", "x\x1b[2J")));
  CHECK(logged(answer, "unrecognized request type: 'x\\x1b[2J'"));
  answer = f.responder.respond(request({}));
  CHECK(answer.reply == kDunno);
  CHECK(triplets(f.store) == 0);
}

TEST_CASE("each required attribute missing: DUNNO and 'attribute missing: <name>'") {
  for (const char* name : {"client_address", "client_name", "sender", "recipient"}) {
    CAPTURE(name);
    Fixture f;
    const PolicyAnswer answer = f.responder.respond(request(without(rcpt(), name)));
    CHECK(answer.reply == kDunno);
    CHECK(logged(answer, std::string("attribute missing: ") + name));
    CHECK(triplets(f.store) == 0);
  }
}

TEST_CASE("present but empty: the null sender is greylisted, an empty client_name is 'unknown'") {
  Fixture f;
  PolicyAnswer answer = f.responder.respond(request(with(rcpt(), "sender", "")));
  CHECK(answer.reply == kGreylisted);
  CHECK(logged(answer,
               "action=greylist, reason=new, client_name=mail.example.test, "
               "client_address=192.0.2.7, recipient=b@example.org",
               Severity::kInfo));
  answer = f.responder.respond(request(with(rcpt("x@example.org"), "client_name", "")));
  CHECK(answer.reply ==
        "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/example.org.html\n\n");
  CHECK(logged(answer,
               "action=greylist, reason=new, client_name=unknown, client_address=192.0.2.7, "
               "sender=a@example.test, recipient=x@example.org",
               Severity::kInfo));
}

TEST_CASE("a protocol state other than RCPT: DUNNO, no decision, nothing stored") {
  for (const char* state : {"CONNECT", "EHLO", "MAIL", "DATA", "END-OF-MESSAGE", "VRFY", "ETRN",
                            "rcpt", ""}) {
    CAPTURE(state);
    Fixture f;
    const PolicyAnswer answer = f.responder.respond(request(with(rcpt(), "protocol_state", state)));
    CHECK(answer.reply == kDunno);
    // Issue 15: the first on a connection says why nothing is greylisted.
    CHECK(logged(answer,
                 std::string("policy request at protocol_state=") + state +
                     ": answered DUNNO, only RCPT is greylisted (check_policy_service belongs in "
                     "smtpd_recipient_restrictions; not warned again on this connection)",
                 Severity::kWarning));
    CHECK(answer.log.size() == 1);
    CHECK(triplets(f.store) == 0);
    // Once per connection (one responder), whatever the state.
    CHECK(f.responder.respond(request(with(rcpt(), "protocol_state", "DATA"))).log.empty());
    CHECK(f.responder.respond(request(with(rcpt(), "protocol_state", state))).reply == kDunno);
  }
  {
    // greylistctl check's probe (VRFY, instance greylistctl.check) is no mistake.
    Fixture f;
    auto probe = with(with(rcpt(), "protocol_state", "VRFY"), "instance", "greylistctl.check");
    CHECK(f.responder.respond(request(probe)).log.empty());
  }
  Fixture f;  // absent: greylisted (older clients, tests by hand)
  CHECK(f.responder.respond(request(without(rcpt(), "protocol_state"))).reply == kGreylisted);
}

TEST_CASE("etrn_domain present, even empty: the 4.2.0 prefix unless the text starts with a digit") {
  Fixture f;
  CHECK(f.responder.respond(request(with(rcpt(), "etrn_domain", ""))).reply ==
        "action=DEFER_IF_PERMIT 4.2.0 Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html\n\n");
  CHECK(f.responder.respond(request(with(rcpt(), "etrn_domain", "etrn.test"))).reply ==
        "action=DEFER_IF_PERMIT 4.2.0 Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html\n\n");
  f.policy.common.greylist_text = "4.7.1 Greylisted";
  CHECK(f.responder.respond(request(with(rcpt(), "etrn_domain", ""))).reply ==
        "action=DEFER_IF_PERMIT 4.7.1 Greylisted\n\n");
}

TEST_CASE("--greylist-action is used as given") {
  Fixture f;
  f.policy.greylist_action = "451";
  f.policy.common.greylist_text = "4.7.1 Try again in %s seconds";
  CHECK(f.responder.respond(request(rcpt())).reply == "action=451 4.7.1 Try again in 300 seconds\n\n");
}

TEST_CASE("policy_test_time is ignored: the wire cannot set the time") {
  Fixture f;
  CHECK(f.responder.respond(request(rcpt())).reply == kGreylisted);
  const auto later = std::to_string(1'795'590'188 + 100000);
  CHECK(f.responder.respond(request(with(rcpt(), "policy_test_time", later))).reply == kGreylisted);
}

TEST_CASE("a malformed request: DUNNO, a warning with the problem, nothing decided") {
  Fixture f;
  PolicyRequest r = request(rcpt());
  r.problem = "line 3 has no '=': junk";
  r.problem_count = 2;
  const PolicyAnswer answer = f.responder.respond(r);
  CHECK(answer.reply == kDunno);
  CHECK(logged(answer, "malformed policy request: line 3 has no '=': junk (and 1 more problems)"));
  CHECK(triplets(f.store) == 0);
}

TEST_CASE("no CR or LF from input or settings reaches the reply") {
  Fixture f;
  const PolicyAnswer answer = f.responder.respond(request(rcpt("b@evil\r.test\x7f")));
  CHECK(answer.reply ==
        "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/evil?.test?.html\n\n");
  f.policy.greylist_action = "DEFER\r\naction=OK";
  f.policy.common.greylist_text = "a\nb";
  const std::string reply = f.responder.respond(request(rcpt())).reply;
  CHECK(reply.find('\r') == std::string::npos);
  CHECK(reply.find('\n') == reply.size() - 2);
}

TEST_CASE("whitelisted client: DUNNO; the client that reaches the threshold is logged") {
  MemoryStore store;
  FakeClock clock{1'795'590'188};
  PolicySettings policy = settings();
  GreylistConfig config;
  config.auto_whitelist_clients = 1;
  config.dynamic_delay = 0;  // the unnamed client below passes after --delay
  Greylister greylister{config, store, clock};
  PolicyResponder responder{policy, greylister, clock};
  responder.respond(request(rcpt()));
  clock.advance(301);
  const PolicyAnswer pass = responder.respond(request(rcpt()));
  CHECK(pass.reply.rfind("action=PREPEND ", 0) == 0);
  CHECK(logged(pass, "whitelisted: mail.example.test[192.0.2.7]", Severity::kInfo));
  const PolicyAnswer awl = responder.respond(request(rcpt("new@example.org")));
  CHECK(awl.reply == kDunno);
  CHECK(logged(awl,
               "action=pass, reason=client AWL, client_name=mail.example.test, "
               "client_address=192.0.2.7, sender=a@example.test, recipient=new@example.org",
               Severity::kInfo));

  // An unnamed client is logged by address alone.
  Attributes unnamed = with(with(rcpt(), "client_name", "unknown"), "client_address", "2001:db8::5");
  responder.respond(request(unnamed));
  clock.advance(301);
  CHECK(logged(responder.respond(request(unnamed)), "whitelisted: 2001:db8::5", Severity::kInfo));
}

TEST_CASE("store failure: DUNNO with on_error=accept, DEFER_IF_PERMIT 4.3.0 with tempfail") {
  MemoryStore memory;
  FailingStore store(memory);
  FakeClock clock;
  PolicySettings policy = settings();
  Greylister greylister{GreylistConfig{}, store, clock};
  PolicyResponder responder{policy, greylister, clock};

  for (const bool reads : {true, false}) {
    CAPTURE(reads);
    store.fail_reads = reads;
    store.fail_writes = !reads;
    policy.common.on_error = OnError::kAccept;
    PolicyAnswer answer = responder.respond(request(rcpt()));
    CHECK(answer.reply == kDunno);
    bool store_warning = false;
    for (const auto& record : answer.log) {
      if (record.kind == PolicyLogRecord::Kind::kStore && record.severity == Severity::kError &&
          record.message.find("injected") != std::string::npos) {
        store_warning = true;
      }
    }
    CHECK(store_warning);
    CHECK(answer.log[0].message.rfind("action=error, reason=injected", 0) == 0);

    policy.common.on_error = OnError::kTempfail;
    answer = responder.respond(request(rcpt()));
    CHECK(answer.reply ==
          "action=DEFER_IF_PERMIT 4.3.0 Greylisting service temporarily unavailable\n\n");
  }
  CHECK(memory.count(Table::kTriplets).value() == 0);
}

TEST_CASE("an exception inside the responder is answered by on_error, never thrown") {
  MemoryStore store;
  ThrowingClock clock{1'795'590'188};
  PolicySettings policy = settings();
  Greylister greylister{GreylistConfig{}, store, clock};
  PolicyResponder responder{policy, greylister, clock};
  CHECK(responder.respond(request(rcpt())).reply == kGreylisted);
  clock.advance(301);
  // Reading 2 is the Greylister's, reading 3 the responder's (header date).
  clock.throw_on_call = 3;
  policy.common.on_error = OnError::kTempfail;
  const PolicyAnswer answer = responder.respond(request(rcpt()));
  CHECK(answer.reply == "action=DEFER_IF_PERMIT 4.3.0 Greylisting service temporarily unavailable\n\n");
  CHECK(logged(answer, "policy request failed: clock broke", Severity::kError));
}

namespace {
// The rules of the tests below.
void set_rules(Fixture& f, const char* text) {
  auto rules = RuleSet::parse(text, "/etc/greylist-milter/rules");
  REQUIRE_MESSAGE(rules.ok(), rules.status().message());
  f.greylister.set_rules(rules.value());
}
}  // namespace

TEST_CASE("a blacklist rule: 550 5.7.1 without the file's path, logged with the rule") {
  Fixture f;
  set_rules(f, "racl blacklist rcpt b@example.org\n");
  const PolicyAnswer answer = f.responder.respond(request(rcpt()));
  CHECK(answer.reply == "action=550 5.7.1 Rejected by local policy (rule at line 1)\n\n");
  CHECK(logged(answer,
               "action=reject, reason=rule blacklist, "
               "rule=/etc/greylist-milter/rules:1, client_name=mail.example.test, "
               "client_address=192.0.2.7, sender=a@example.test, recipient=b@example.org",
               Severity::kInfo));
  CHECK(triplets(f.store) == 0);
}

TEST_CASE("a greylist rule's ecode comes before the text even with etrn_domain; its code replaces the action") {
  Fixture f;
  set_rules(f, "racl greylist rcpt @example.org ecode \"4.7.1\"\n"
               "racl greylist rcpt @example.net code \"451\" msg \"Later, please\"\n");
  CHECK(f.responder.respond(request(with(rcpt(), "etrn_domain", ""))).reply ==
        "action=DEFER_IF_PERMIT 4.7.1 Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html\n\n");
  CHECK(f.responder.respond(request(rcpt("b@example.net"))).reply ==
        "action=451 Later, please\n\n");
}

TEST_CASE("rules with a DNS list: begin() asks for the lookup, finish() decides with the answers") {
  Fixture f;
  set_rules(f, "dnsrbl \"bl\" bl.example 127.0.0.2\n"
               "racl \"bl\" blacklist dnsrbl \"bl\"\n");
  PolicyStep step = f.responder.begin(request(rcpt()));
  REQUIRE(step.lookup);
  CHECK(step.lookup->names == std::vector<std::string>{"7.2.0.192.bl.example"});
  CHECK(step.answer.reply.empty());
  CHECK(triplets(f.store) == 0);  // nothing decided yet

  DnsAnswers listed;
  listed["7.2.0.192.bl.example"] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 2}}};
  CHECK(f.responder.finish(*step.lookup, listed).reply ==
        "action=550 5.7.1 Rejected by local policy (rule bl)\n\n");
  // A failed answer, or none at all (respond(): no resolver), is "not listed".
  DnsAnswers failed;
  failed["7.2.0.192.bl.example"] = DnsAnswer{};
  CHECK(f.responder.finish(*step.lookup, failed).reply == kGreylisted);
  CHECK(f.responder.respond(request(rcpt())).reply == kGreylisted);
}

TEST_CASE("rules with a DNS list: a client the client auto-whitelist passes is decided at once") {
  Fixture f;
  set_rules(f, "dnsrbl \"bl\" bl.example 127.0.0.2\n"
               "racl \"bl\" blacklist dnsrbl \"bl\"\n");
  Request known;
  known.client_address = "192.0.2.7";
  known.client_name = "mail.example.test";
  REQUIRE(f.store.put(Table::kClients, f.greylister.client_key(known),
                      encode_client({f.config.auto_whitelist_clients, f.clock.now()}), 0).ok());
  const PolicyStep step = f.responder.begin(request(rcpt()));
  CHECK_FALSE(step.lookup);  // no DNS step: the client AWL decides before the rules
  REQUIRE_FALSE(step.answer.log.empty());
  CHECK(step.answer.log[0].message.starts_with("action=pass, reason=client AWL, "));
}

}  // TEST_SUITE
