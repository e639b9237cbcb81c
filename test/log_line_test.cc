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

}  // TEST_SUITE
