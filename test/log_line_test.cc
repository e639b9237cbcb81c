#include "greylist/log_line.h"

#include <doctest/doctest.h>

using namespace greylist;

TEST_SUITE("log_line") {

TEST_CASE("postgrey's exact form") {
  Request r;
  r.client_name = "mail.foo.test";
  r.client_address = "203.0.113.7";
  r.sender = "a@foo.test";
  r.recipient = "b@bar.test";
  Decision d;
  d.action = Decision::Action::kGreylist;
  d.reason = Decision::Reason::kNew;
  CHECK(decision_log_line(r, d) ==
        "action=greylist, reason=new, client_name=mail.foo.test, client_address=203.0.113.7, "
        "sender=a@foo.test, recipient=b@bar.test");
  d.action = Decision::Action::kPass;
  d.reason = Decision::Reason::kTripletFound;
  d.delayed_seconds = 607;
  r.queue_id = "ABC123";
  CHECK(decision_log_line(r, d) ==
        "ABC123: action=pass, reason=triplet found, delay=607, client_name=mail.foo.test, "
        "client_address=203.0.113.7, sender=a@foo.test, recipient=b@bar.test");
}

TEST_CASE("empty attributes are left out (null sender)") {
  Request r;
  r.client_name = "unknown";
  r.client_address = "2001:db8:1::1";
  r.recipient = "r@v6.test";
  Decision d;
  d.action = Decision::Action::kWhitelisted;
  d.reason = Decision::Reason::kClientWhitelist;
  CHECK(decision_log_line(r, d) ==
        "action=pass, reason=client whitelist, client_name=unknown, client_address=2001:db8:1::1, "
        "recipient=r@v6.test");
}

TEST_CASE("untrusted text is made printable and cut") {
  CHECK(printable("a\nb\x01\xff\\") == "a\\x0ab\\x01\\xff\\\\");
  CHECK(printable(std::string(300, 'x')) == std::string(256, 'x') + "...");
  CHECK(printable("abc", 2) == "ab...");
  Request r;
  r.client_address = "1.2.3.4";
  r.recipient = "x\r\naction=pass@y";
  Decision d;
  d.action = Decision::Action::kGreylist;
  d.reason = Decision::Reason::kNew;
  const std::string line = decision_log_line(r, d);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("recipient=x\\x0d\\x0aaction=pass@y") != std::string::npos);
}

TEST_CASE("decision log entries: the decision, the warning, whitelisted, the store failure") {
  Request r;
  r.client_name = "unknown";
  r.client_address = "192.0.2.7";
  r.recipient = "b@bar.test";
  Decision d = make_decision(Decision::Action::kPass, Decision::Reason::kTripletFound);
  d.warning = "domain AWL count failed: disk\nfull";
  d.client_newly_whitelisted = true;
  auto entries = decision_log_entries(r, d);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].kind == DecisionLogEntry::Kind::kDecision);
  CHECK(entries[0].message == decision_log_line(r, d));
  CHECK(entries[1].kind == DecisionLogEntry::Kind::kWarning);
  CHECK(entries[1].message == "domain AWL count failed: disk\\x0afull");
  CHECK(entries[2].kind == DecisionLogEntry::Kind::kDecision);
  CHECK(entries[2].message == "whitelisted: 192.0.2.7");
  r.client_name = "mx.foo.test";
  CHECK(whitelisted_log_line(r) == "whitelisted: mx.foo.test[192.0.2.7]");

  entries = decision_log_entries(
      r, make_decision(Decision::Action::kError, Decision::Reason::kStoreError, "db gone"));
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].message.starts_with("action=error, reason=db gone, client_name=mx.foo.test"));
  CHECK(entries[1].kind == DecisionLogEntry::Kind::kStoreFailure);
  CHECK(entries[1].message == "greylist store failed, answering by --on-error: db gone");
}

TEST_CASE("reason texts are postgrey's") {
  using R = Decision::Reason;
  const auto text = [](R reason, std::string detail = {}) {
    Decision d = make_decision(Decision::Action::kPass, reason, std::move(detail));
    d.seconds_left = 12;
    return reason_text(d);
  };
  CHECK(text(R::kNew) == "new");
  CHECK(text(R::kEarlyRetry) == "early-retry (12s missing)");
  CHECK(text(R::kTripletFound) == "triplet found");
  CHECK(text(R::kPool, "outlook.com") == "pool (outlook.com)");
  CHECK(text(R::kClientWhitelist) == "client whitelist");
  CHECK(text(R::kClientWhitelist, "whitelist_clients:3 .x.test") ==
        "client whitelist (whitelist_clients:3 .x.test)");
  CHECK(text(R::kRecipientWhitelist, "f:1 postmaster@") == "recipient whitelist (f:1 postmaster@)");
  CHECK(text(R::kClientAwl) == "client AWL");
  CHECK(text(R::kDomainAwl) == "domain AWL");
  CHECK(text(R::kSmtpAuth) == "SMTP AUTH");
  CHECK(text(R::kSkipNetwork, "10.0.0.0/8") == "skip networks (10.0.0.0/8)");
  CHECK(text(R::kNoClientAddress) == "no client address");
  CHECK(text(R::kStoreError) == "store error");
  CHECK(text(R::kStoreError, "disk full") == "disk full");
}

}  // TEST_SUITE
