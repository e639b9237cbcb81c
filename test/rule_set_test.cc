#include "greylist/rule_set.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "core/rules/dns_query_name.h"

using namespace greylist;
using std::chrono::seconds;

namespace {

std::shared_ptr<const RuleSet> rule_set(std::string_view text) {
  auto set = RuleSet::parse(text, "rules");
  REQUIRE_MESSAGE(set.ok(), set.status().message());
  return set.value();
}

Request request(std::string address = "192.0.2.10") {
  Request r;
  r.client_address = std::move(address);
  r.client_name = "mx1.sender.example";
  r.helo_name = "mx1.sender.example";
  r.sender = "alice@sender.example";
  r.recipient = "bob@example.net";
  return r;
}

// The action of the deciding rule, or "none".
std::string decide(std::string_view text, const Request& r, const DnsAnswers& answers = {}) {
  const auto match = rule_set(text)->evaluate(r, answers);
  return match ? rule_action_name(match->action) : "none";
}

// Does a one-clause whitelist rule match?
bool matches(const std::string& clause, const Request& r = request()) {
  return decide("racl whitelist " + clause + "\n", r) == "whitelist";
}

DnsAnswer listed(std::array<std::uint8_t, 4> address) {
  return DnsAnswer{DnsAnswer::Kind::kListed, {address}};
}

}  // namespace

TEST_SUITE("rule_set") {

TEST_CASE("addr: address, network, IPv6, IPv4-mapped") {
  CHECK(matches("addr 192.0.2.10"));
  CHECK(matches("addr 192.0.2.0/24"));
  CHECK_FALSE(matches("addr 192.0.3.0/24"));
  CHECK(matches("addr 2001:db8::/32", request("2001:db8::5")));
  CHECK_FALSE(matches("addr 2001:db9::/32", request("2001:db8::5")));
  CHECK(matches("addr 192.0.2.0/24", request("::ffff:192.0.2.7")));
  CHECK_FALSE(matches("addr 0.0.0.0/0", request("not an address")));
}

TEST_CASE("domain: the name and under it, only under it, regex; never 'unknown'") {
  CHECK(matches("domain sender.example"));
  CHECK(matches("domain mx1.sender.example"));
  CHECK(matches("domain SENDER.Example"));
  CHECK_FALSE(matches("domain der.example"));  // label boundaries, unlike milter-greylist
  CHECK(matches("domain .sender.example"));
  CHECK_FALSE(matches("domain .mx1.sender.example"));
  CHECK(matches("domain /^mx[0-9]\\./"));
  CHECK_FALSE(matches("domain /^mx[2-9]\\./"));
  Request unknown = request();
  unknown.client_name = "unknown";
  CHECK_FALSE(matches("domain /./", unknown));
  CHECK(matches("not domain /./", unknown));
  CHECK_FALSE(matches("domain unknown", unknown));
}

TEST_CASE("from: address, +extension, local part, @domain, domain, regex, null sender") {
  CHECK(matches("from alice@sender.example"));
  CHECK(matches("from ALICE@Sender.Example"));
  CHECK_FALSE(matches("from alic@sender.example"));
  CHECK(matches("from @sender.example"));
  CHECK_FALSE(matches("from @example"));  // @domain is exactly that domain
  CHECK(matches("from sender.example"));  // a bare domain takes subdomains too
  CHECK(matches("from alice@"));
  CHECK(matches("from /^alice@/"));
  Request extended = request();
  extended.sender = "alice+news@sender.example";
  CHECK(matches("from alice@sender.example", extended));
  Request null_sender = request();
  null_sender.sender = "";
  CHECK_FALSE(matches("from @sender.example", null_sender));
  CHECK(matches("from /^$/", null_sender));
}

TEST_CASE("rcpt: the same forms on the recipient") {
  CHECK(matches("rcpt bob@example.net"));
  CHECK(matches("rcpt @example.net"));
  CHECK(matches("rcpt \"bob@example.net\""));
  CHECK_FALSE(matches("rcpt carol@example.net"));
  CHECK(matches("rcpt /@example\\.net$/"));
  CHECK_FALSE(matches("rcpt /@example\\.org$/"));
}

TEST_CASE("helo: whole value or regex") {
  CHECK(matches("helo mx1.sender.example"));
  CHECK(matches("helo \"MX1.SENDER.EXAMPLE\""));
  CHECK_FALSE(matches("helo sender.example"));
  CHECK(matches("helo /sender/"));
}

TEST_CASE("auth: only authenticated clients") {
  CHECK_FALSE(matches("auth /.*/"));
  CHECK(matches("not auth /.*/"));
  Request authenticated = request();
  authenticated.sasl_username = "Alice";
  CHECK(matches("auth /.*/", authenticated));
  CHECK(matches("auth alice", authenticated));
  CHECK_FALSE(matches("auth bob", authenticated));
}

TEST_CASE("every clause must match; not negates one") {
  CHECK(matches("addr 192.0.2.0/24 rcpt @example.net"));
  CHECK_FALSE(matches("addr 192.0.2.0/24 rcpt @example.org"));
  CHECK(matches("addr 192.0.2.0/24 not rcpt @example.org"));
  CHECK_FALSE(matches("not addr 192.0.2.0/24"));
  CHECK(matches("not addr 10.0.0.0/8 not helo localhost"));
}

TEST_CASE("first match wins; default catches the rest") {
  const char* text =
      "racl whitelist rcpt friend@example.net\n"
      "racl blacklist addr 192.0.2.0/24\n"
      "racl greylist default\n";
  Request friend_ = request();
  friend_.recipient = "friend@example.net";
  CHECK(decide(text, friend_) == "whitelist");
  CHECK(decide(text, request()) == "blacklist");
  CHECK(decide(text, request("198.51.100.1")) == "greylist");
  CHECK(decide("racl whitelist rcpt x@example.org\n", request()) == "none");
  const auto match = rule_set(text)->evaluate(request("198.51.100.1"), {});
  REQUIRE(match);
  CHECK(match->rule.line == 3);
  CHECK(match->rule.to_string() == "rules:3");
}

TEST_CASE("continue passes its options on and evaluation goes on") {
  const auto set = rule_set(
      "racl \"slow\" continue addr 192.0.2.0/24 delay 1h msg \"Slow down\"\n"
      "racl \"later\" continue rcpt @example.net autowhite 2d delay 2h\n"
      "racl \"bl\" blacklist helo spam.example\n"
      "racl \"mine\" greylist rcpt bob@example.net delay 10m\n"
      "racl greylist default\n");
  auto match = set->evaluate(request(), {});
  REQUIRE(match);
  CHECK(match->rule.id == "mine");
  CHECK(match->action == RuleAction::kGreylist);
  CHECK(match->options.delay == std::chrono::minutes(10));  // its own wins
  CHECK(match->options.autowhite == std::chrono::hours(48));
  CHECK(match->options.msg == "Slow down");
  REQUIRE(match->continued.size() == 2);
  CHECK(match->continued[0].id == "slow");
  CHECK(match->continued[1].id == "later");

  Request spam = request();
  spam.helo_name = "spam.example";
  match = set->evaluate(spam, {});
  REQUIRE(match);
  CHECK(match->action == RuleAction::kBlacklist);
  CHECK(match->options.empty());  // temporary replies and delays do not reach a reject
}

TEST_CASE("continue rules alone: greylisted as usual with their options") {
  const auto set = rule_set("racl \"dun\" continue addr 192.0.2.0/24 delay 1h\n");
  const auto match = set->evaluate(request(), {});
  REQUIRE(match);
  CHECK(match->action == RuleAction::kGreylist);
  CHECK(match->rule.id == "dun");
  CHECK(match->options.delay == std::chrono::hours(1));
  CHECK_FALSE(set->evaluate(request("198.51.100.1"), {}));
}

TEST_CASE("greytrap: the match carries the hold") {
  const auto set = rule_set("racl greytrap rcpt trap@example.net hold 3d\nracl greytrap rcpt trap2@example.net\n");
  CHECK(set->has_greytraps());
  Request r = request();
  r.recipient = "trap@example.net";
  auto match = set->evaluate(r, {});
  REQUIRE(match);
  CHECK(match->action == RuleAction::kGreytrap);
  CHECK(match->options.hold == std::chrono::hours(72));
  r.recipient = "trap2@example.net";
  match = set->evaluate(r, {});
  REQUIRE(match);
  CHECK(match->options.hold == RuleSet::kDefaultHold);
  CHECK_FALSE(rule_set("racl whitelist default\n")->has_greytraps());
}

TEST_CASE("RuleRef: text and metrics label") {
  CHECK(RuleRef{"/etc/r", 7, ""}.to_string() == "/etc/r:7");
  CHECK(RuleRef{"/etc/r", 7, "dnswl"}.to_string() == "/etc/r:7 (dnswl)");
  CHECK(RuleRef{"/etc/r", 7, ""}.label() == "/etc/r:7");
  CHECK(RuleRef{"/etc/r", 7, "dnswl"}.label() == "dnswl");
}

}

TEST_SUITE("rule_set_lists") {

TEST_CASE("a list matches when any value does") {
  const std::string lists =
      "list \"nets\" addr { 10.0.0.0/8 192.0.2.0/24 }\n"
      "list \"names\" domain { other.example sender.example }\n"
      "list \"senders\" from { x@y.example /^alice@/ }\n"
      "list \"rcpts\" rcpt { carol@example.net bob@example.net }\n"
      "list \"helos\" helo { a.example mx1.sender.example }\n"
      "list \"users\" auth { alice }\n"
      "list \"none\" addr { 10.0.0.0/8 }\n";
  for (const char* name : {"nets", "names", "senders", "rcpts", "helos"}) {
    CAPTURE(name);
    CHECK(decide(lists + "racl whitelist list \"" + name + "\"\n", request()) == "whitelist");
    CHECK(decide(lists + "racl whitelist not list \"" + name + "\"\n", request()) == "none");
  }
  CHECK(decide(lists + "racl whitelist addr list \"nets\"\n", request()) == "whitelist");
  CHECK(decide(lists + "racl whitelist list \"none\"\n", request()) == "none");
  CHECK(decide(lists + "racl whitelist not addr list \"none\"\n", request()) == "whitelist");
  CHECK(decide(lists + "racl whitelist list \"users\"\n", request()) == "none");
  Request authenticated = request();
  authenticated.sasl_username = "alice";
  CHECK(decide(lists + "racl whitelist list \"users\"\n", authenticated) == "whitelist");
}

}

TEST_SUITE("rule_set_dns") {

const char* const kDnsRules =
    "dnsrbl \"dnswl\" list.dnswl.example 127.0.10.0/24\n"
    "dnsrbl \"hi\" list.dnswl.example 127.0.10.3\n"
    "dnsrbl \"bl\" bl.example 127.0.0.2\n"
    "racl whitelist addr 10.0.0.0/8\n"
    "racl \"trusted\" whitelist dnsrbl \"hi\"\n"
    "racl \"dnswl\" greylist dnsrbl \"dnswl\" delay 1m\n"
    "racl \"bl\" blacklist dnsrbl \"bl\"\n"
    "racl greylist default\n";

TEST_CASE("query names: reversed octets and nibbles") {
  CHECK(rules::dnsbl_query_name(*IpAddress::parse("192.0.2.10"), "bl.example") ==
        "10.2.0.192.bl.example");
  CHECK(rules::dnsbl_query_name(*IpAddress::parse("2001:db8::1"), "bl.example") ==
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
}

TEST_CASE("dns_queries: each list once, none when decided earlier or not needed") {
  const auto set = rule_set(kDnsRules);
  const auto queries = set->dns_queries(request());
  REQUIRE(queries.size() == 2);
  CHECK(queries[0].name == "10.2.0.192.list.dnswl.example");
  CHECK(queries[0].list == "hi");
  CHECK(queries[1].name == "10.2.0.192.bl.example");
  CHECK(set->dns_queries(request("10.1.2.3")).empty());  // the addr rule decides first
  CHECK(set->dns_queries(request("bogus")).empty());
  CHECK(rule_set("racl greylist default\n")->dns_queries(request()).empty());
  // A rule whose other clauses fail needs no lookup.
  const auto narrow = rule_set("dnsrbl \"bl\" bl.example 127.0.0.2\nracl blacklist rcpt x@y.example dnsrbl \"bl\"\n");
  CHECK(narrow->dns_queries(request()).empty());
  // A continue rule that matches without DNS does not stop the search.
  const auto cont = rule_set("dnsrbl \"bl\" bl.example 127.0.0.2\nracl continue default delay 1m\n"
                          "racl blacklist dnsrbl \"bl\"\n");
  CHECK(cont->dns_queries(request()).size() == 1);
  CHECK(set->dns_queries(request("2001:db8::1")).size() == 2);
}

TEST_CASE("listed inside ADDRESS/MASK matches; outside, NXDOMAIN or failure does not") {
  const std::string wl = "10.2.0.192.list.dnswl.example";
  const std::string bl = "10.2.0.192.bl.example";
  CHECK(decide(kDnsRules, request(), {{wl, listed({127, 0, 10, 3})}}) == "whitelist");
  CHECK(decide(kDnsRules, request(), {{wl, listed({127, 0, 10, 1})}}) == "greylist");
  const auto match = rule_set(kDnsRules)->evaluate(request(), {{wl, listed({127, 0, 10, 1})}});
  CHECK(match->rule.id == "dnswl");
  CHECK(match->options.delay == std::chrono::minutes(1));
  CHECK(decide(kDnsRules, request(), {{bl, listed({127, 0, 0, 2})}}) == "blacklist");
  CHECK(decide(kDnsRules, request(), {{bl, listed({127, 0, 0, 3})}}) == "greylist");
  CHECK(rule_set(kDnsRules)->evaluate(request(), {{bl, listed({127, 0, 0, 3})}})->rule.line == 8);
  CHECK(rule_set(kDnsRules)->evaluate(request(), {{bl, DnsAnswer{DnsAnswer::Kind::kFailed, {}}}})->rule.line == 8);
  CHECK(rule_set(kDnsRules)->evaluate(request(), {{bl, DnsAnswer{DnsAnswer::Kind::kNotListed, {}}}})->rule.line == 8);
  CHECK(rule_set(kDnsRules)->evaluate(request(), {})->rule.line == 8);
  // Any of several A records.
  CHECK(decide(kDnsRules, request(), {{bl, DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, 9}, {127, 0, 0, 2}}}}}) ==
        "blacklist");
}

TEST_CASE("assess: the decision in one walk when no lookup is needed, the lookups otherwise") {
  const auto set = rule_set(kDnsRules);
  const auto decided = set->assess(request("10.1.2.3"));
  CHECK(decided.queries.empty());
  REQUIRE(decided.match);
  CHECK(decided.match->rule.line == 4);
  const auto pending = set->assess(request());
  CHECK(pending.queries.size() == 2);
  CHECK_FALSE(pending.match);  // not final before the answers
  const auto none = rule_set("racl whitelist addr 10.0.0.0/8\n")->assess(request());
  CHECK(none.queries.empty());
  CHECK_FALSE(none.match);
}

TEST_CASE("not dnsrbl: a failed lookup counts as not listed") {
  const auto set = rule_set("dnsrbl \"bl\" bl.example 127.0.0.2\nracl whitelist not dnsrbl \"bl\"\n");
  CHECK(set->evaluate(request(), {{"10.2.0.192.bl.example", DnsAnswer{DnsAnswer::Kind::kFailed, {}}}}));
  CHECK_FALSE(set->evaluate(request(), {{"10.2.0.192.bl.example", listed({127, 0, 0, 2})}}));
}

TEST_CASE("IPv6 clients are looked up by nibbles") {
  const auto set = rule_set("dnsrbl \"bl\" bl.example 127.0.0.2\nracl blacklist dnsrbl \"bl\"\n");
  const Request r = request("2001:db8::1");
  const auto queries = set->dns_queries(r);
  REQUIRE(queries.size() == 1);
  CHECK(set->evaluate(r, {{queries[0].name, listed({127, 0, 0, 2})}})->action == RuleAction::kBlacklist);
}

}

TEST_SUITE("rule_set_file") {

TEST_CASE("load_file: errors name the file; the file names the rules") {
  const std::string path = "/tmp/rule_set_test_" + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "racl whitelist addr 10.0.0.0/8\nracl greylist bogus\n";
  }
  auto bad = RuleSet::load_file(path);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == path + ":2: 'bogus' is not supported (clauses: addr, domain, from, "
                                          "rcpt, helo, auth, list, dnsrbl, default, each after an "
                                          "optional 'not'; options: delay, autowhite, hold, code, "
                                          "ecode, msg)");
  {
    std::ofstream out(path);
    out << "racl whitelist addr 10.0.0.0/8\nracl greylist default\n";
  }
  auto good = RuleSet::load_file(path);
  REQUIRE(good.ok());
  CHECK(good.value()->rule_count() == 2);
  CHECK(good.value()->evaluate(request("10.0.0.1"), {})->rule.file == path);
  std::remove(path.c_str());
  auto missing = RuleSet::load_file(path);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kIoError);
  CHECK(missing.status().message() == path + ": No such file or directory");
}

TEST_CASE("an empty RuleSet decides nothing") {
  const RuleSet empty;
  CHECK_FALSE(empty.evaluate(request(), {}));
  CHECK(empty.dns_queries(request()).empty());
  CHECK(empty.rule_count() == 0);
}

}
