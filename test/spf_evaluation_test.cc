// SPF evaluation (RFC 7208) against a table of the RFC's cases, written for
// this project: each row is a record published at example.com, a client
// address and the result the RFC requires (the section in the comment).
// The DNS answers come from a table (support/spf_zone.h).
#include "greylist/spf_evaluation.h"

#include <doctest/doctest.h>

#include <algorithm>

#include "support/spf_zone.h"

using namespace greylist;
using greylist::testing::SpfZone;
using greylist::testing::spf_verdict;

namespace {

// The hosts and provider records every row may use.
SpfZone base_zone() {
  SpfZone zone;
  zone.address("example.com", {"192.0.2.1"})
      .address("example.com", {"2001:db8::1"})
      .address("mail.example.com", {"192.0.2.10"})
      .address("liar.example.com", {"192.0.2.99"})
      .mx("example.com", {"mx1.example.com", "mx2.example.com"})
      .address("mx1.example.com", {"192.0.2.21"})
      .address("mx2.example.com", {"192.0.2.22"})
      .address("mx2.example.com", {"2001:db8::22"})
      .mx("many-mx.example.com", {"m1.example.com", "m2.example.com", "m3.example.com", "m4.example.com",
                                  "m5.example.com", "m6.example.com", "m7.example.com", "m8.example.com",
                                  "m9.example.com", "m10.example.com", "m11.example.com"})
      .ptr("10.2.0.192.in-addr.arpa", {"mail.example.com"})
      .ptr("66.2.0.192.in-addr.arpa", {"liar.example.com"})
      .address("192.0.2.5.allow.example.com", {"127.0.0.2"})
      .txt("provider.example.net", {"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:100::/48 -all"})
      .txt("softfail.example.net", {"v=spf1 ~all"})
      .txt("pass.example.net", {"v=spf1 +all"})
      .txt("broken.example.net", {"v=spf1 foo"})
      .txt("norecord.example.net", {"site-verification=abc"})
      .fail("dnsfail.example.net", DnsRecordType::kTxt);
  return zone;
}

SpfVerdict check(SpfZone zone, const std::string& client, const std::string& sender = "alice@example.com",
                 std::vector<DnsRecordQuery>* asked = nullptr) {
  const auto address = IpAddress::parse(client);
  REQUIRE(address);
  return spf_verdict(zone, SpfIdentity::mail_from(*address, sender, "mail.example.com"), asked);
}

SpfVerdict check_record(const std::string& record, const std::string& client) {
  SpfZone zone = base_zone();
  zone.txt("example.com", {record});
  return check(zone, client);
}

struct Row {
  const char* record;
  const char* client;
  SpfResult expected;
};

// RFC 7208 section of each group in the comment above it.
const Row kRows[] = {
    // 4.6.2, 5.1, 2.6: qualifiers; no match is neutral; an empty record too.
    {"v=spf1 -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 ~all", "192.0.2.1", SpfResult::kSoftfail},
    {"v=spf1 ?all", "192.0.2.1", SpfResult::kNeutral},
    {"v=spf1 +all", "192.0.2.1", SpfResult::kPass},
    {"v=spf1 all", "192.0.2.1", SpfResult::kPass},
    {"v=spf1", "192.0.2.1", SpfResult::kNeutral},
    {"v=spf1 ip4:203.0.113.1", "192.0.2.1", SpfResult::kNeutral},
    // 4.6.1: case does not matter; spaces between and after terms are fine.
    {"V=SpF1 IP4:192.0.2.1 -ALL", "192.0.2.1", SpfResult::kPass},
    {"v=spf1   ip4:192.0.2.1   -all  ", "192.0.2.1", SpfResult::kPass},
    // 5.6: ip4 and ip6 with prefix lengths; the other family never matches;
    // an IPv4-mapped IPv6 client is the IPv4 client.
    {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.200", SpfResult::kPass},
    {"v=spf1 ip4:192.0.2.0/24 -all", "192.0.3.1", SpfResult::kFail},
    {"v=spf1 ip4:192.0.2.1 -all", "192.0.2.2", SpfResult::kFail},
    {"v=spf1 ip4:0.0.0.0/0 -all", "203.0.113.9", SpfResult::kPass},
    {"v=spf1 ip4:0.0.0.0/0 -all", "2001:db8::9", SpfResult::kFail},
    {"v=spf1 ip6:2001:db8::/32 -all", "2001:db8:5::1", SpfResult::kPass},
    {"v=spf1 ip6:2001:db8::/32 -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 ip6:::/0 -all", "2001:db8::1", SpfResult::kPass},
    {"v=spf1 ip4:192.0.2.1 -all", "::ffff:192.0.2.1", SpfResult::kPass},
    // 5.3: a, with the domain's A or AAAA by the client's family, CIDR lengths.
    {"v=spf1 a -all", "192.0.2.1", SpfResult::kPass},
    {"v=spf1 a -all", "192.0.2.2", SpfResult::kFail},
    {"v=spf1 a -all", "2001:db8::1", SpfResult::kPass},
    {"v=spf1 a/24 -all", "192.0.2.77", SpfResult::kPass},
    {"v=spf1 a//64 -all", "2001:db8::abcd", SpfResult::kPass},
    {"v=spf1 a//64 -all", "192.0.2.2", SpfResult::kFail},
    {"v=spf1 a/24//64 -all", "192.0.2.2", SpfResult::kPass},
    {"v=spf1 a:mail.example.com -all", "192.0.2.10", SpfResult::kPass},
    {"v=spf1 a:mail.example.com. -all", "192.0.2.10", SpfResult::kPass},
    {"v=spf1 a:%{d} -all", "192.0.2.1", SpfResult::kPass},
    // 5.4: mx, the addresses of every MX host; more than 10 is permerror.
    {"v=spf1 mx -all", "192.0.2.22", SpfResult::kPass},
    {"v=spf1 mx -all", "192.0.2.23", SpfResult::kFail},
    {"v=spf1 mx -all", "2001:db8::22", SpfResult::kPass},
    {"v=spf1 mx/24 -all", "192.0.2.99", SpfResult::kPass},
    {"v=spf1 mx:many-mx.example.com -all", "192.0.2.1", SpfResult::kPermerror},
    // 5.5: ptr, validated names only.
    {"v=spf1 ptr -all", "192.0.2.10", SpfResult::kPass},
    {"v=spf1 ptr -all", "192.0.2.66", SpfResult::kFail},
    {"v=spf1 ptr:example.org -all", "192.0.2.10", SpfResult::kFail},
    {"v=spf1 ptr:mail.example.com -all", "192.0.2.10", SpfResult::kPass},
    // 5.7: exists, with a macro.
    {"v=spf1 exists:%{i}.allow.example.com -all", "192.0.2.5", SpfResult::kPass},
    {"v=spf1 exists:%{i}.allow.example.com -all", "192.0.2.6", SpfResult::kFail},
    // 5.2: include: pass matches; fail, softfail, neutral do not; none and
    // permerror are permerror; temperror is temperror.
    {"v=spf1 include:provider.example.net -all", "198.51.100.7", SpfResult::kPass},
    {"v=spf1 include:provider.example.net -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 include:provider.example.net ?all", "2001:db8:100::5", SpfResult::kPass},
    {"v=spf1 include:softfail.example.net -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 include:norecord.example.net -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include:nothing.example.net -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include:broken.example.net -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include:dnsfail.example.net -all", "192.0.2.1", SpfResult::kTemperror},
    // 6.1: redirect when nothing matched; to a domain without a record is
    // permerror; never when a mechanism matched (all always does).
    {"v=spf1 redirect=provider.example.net", "198.51.100.7", SpfResult::kPass},
    {"v=spf1 redirect=provider.example.net", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 redirect=norecord.example.net", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:192.0.2.1 redirect=provider.example.net", "192.0.2.1", SpfResult::kPass},
    {"v=spf1 -all redirect=pass.example.net", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 redirect=broken.example.net", "192.0.2.1", SpfResult::kPermerror},
    // 6: exp= is parsed, not fetched; unknown modifiers are ignored.
    {"v=spf1 exp=explain.example.com -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 moo=bar -all", "192.0.2.1", SpfResult::kFail},
    {"v=spf1 moo.cow-2_x=%{l}%% +all", "192.0.2.1", SpfResult::kPass},
    // 4.6, 5, 6, 7.1: syntax errors anywhere are permerror, even after a
    // mechanism that matches.
    {"v=spf1 +all foo:bar", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 -all.", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 -all:example.com", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 -all/8", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:192.0.2.1/33 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:192.0.2.1/032 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:192.0.2 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:192.0.2.1//64 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4:2001:db8::1 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip6:192.0.2.1 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip6:2001:db8::/129 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ip4 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:foo -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:example.123 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:example.com- -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a: -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a/33 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a//129 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 ptr/0 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include: -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 include:provider.example.net/24 -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 exists -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 redirect:provider.example.net", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 redirect=a.example.net redirect=b.example.net", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 exp=a.example.net exp=b.example.net -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 exp= -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 =foo -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:%{z}.example.com -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:%{d0}.example.com -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:%{d.example.com -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:example.com% -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 a:ex%ample.com -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 exists:%{c}.example.com -all", "192.0.2.1", SpfResult::kPermerror},
    {"v=spf1 moo=%{z} -all", "192.0.2.1", SpfResult::kPermerror},
    // 4.5: not a version 1 record, so none.
    {"v=spf10 +all", "192.0.2.1", SpfResult::kNone},
    {"v=spf1-all", "192.0.2.1", SpfResult::kNone},
    {"spf1 +all", "192.0.2.1", SpfResult::kNone},
};

}  // namespace

TEST_SUITE("spf_evaluation") {

TEST_CASE("the RFC 7208 table") {
  for (const Row& row : kRows) {
    CAPTURE(row.record);
    CAPTURE(row.client);
    const SpfVerdict verdict = check_record(row.record, row.client);
    CAPTURE(verdict.reason);
    CHECK(to_string(verdict.result) == std::string(to_string(row.expected)));
    CHECK_FALSE(verdict.reason.empty());
  }
}

TEST_CASE("record lookup: none without a record, temperror on a DNS failure, permerror for two") {
  SpfZone zone = base_zone();
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kNone);  // no TXT at example.com
  zone.txt("example.com", {"site-verification=abc", "v=spf1 +all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPass);
  zone.txt("example.com", {"v=spf1 +all", "v=spf1 -all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPermerror);
  zone.fail("example.com", DnsRecordType::kTxt);
  const SpfVerdict failed = check(zone, "192.0.2.1");
  CHECK(failed.result == SpfResult::kTemperror);
  CHECK(failed.reason == "DNS failure: TXT example.com");
}

TEST_CASE("4.3: a sender domain that is no valid multi-label name is none, asked of nobody") {
  SpfZone zone = base_zone();
  for (const char* sender : {"alice@localhost", "alice@[192.0.2.1]", "alice@a..example.com", "alice",
                             "alice@.example.com",
                             "alice@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.com"}) {
    CAPTURE(std::string(sender));
    std::vector<DnsRecordQuery> asked;
    CHECK(check(zone, "192.0.2.1", sender, &asked).result == SpfResult::kNone);
    CHECK(asked.empty());
  }
}

TEST_CASE("the MAIL FROM identity: postmaster for an empty local part, HELO for a bounce") {
  const IpAddress client = *IpAddress::parse("192.0.2.1");
  const SpfIdentity plain = SpfIdentity::mail_from(client, "alice@Example.COM", "helo.example.org");
  CHECK(plain.domain == "Example.COM");
  CHECK(plain.sender == "alice@Example.COM");
  const SpfIdentity empty_local = SpfIdentity::mail_from(client, "@example.com", "helo.example.org");
  CHECK(empty_local.sender == "postmaster@example.com");
  const SpfIdentity bounce = SpfIdentity::mail_from(client, "", "helo.example.org");
  CHECK(bounce.domain == "helo.example.org");
  CHECK(bounce.sender == "postmaster@helo.example.org");
  const SpfIdentity quoted = SpfIdentity::mail_from(client, "\"a@b\"@example.com", "h.example.org");
  CHECK(quoted.domain == "example.com");
}

TEST_CASE("4.6.4: the tenth DNS-querying term is fine, the eleventh is permerror") {
  SpfZone zone = base_zone();
  std::string ten = "v=spf1";
  for (int i = 1; i <= 10; ++i) {
    zone.address("h" + std::to_string(i) + ".example.com", {"203.0.113.1"});
    ten += " a:h" + std::to_string(i) + ".example.com";
  }
  zone.txt("example.com", {ten + " -all"});
  const SpfVerdict within = check(zone, "192.0.2.1");
  CHECK(within.result == SpfResult::kFail);
  CHECK(within.dns_lookups == 10);
  zone.txt("example.com", {ten + " ip4:192.0.2.1 a:h1.example.com -all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPass);  // ip4 is no lookup
  zone.txt("example.com", {ten + " a:h1.example.com -all"});
  const SpfVerdict over = check(zone, "192.0.2.1");
  CHECK(over.result == SpfResult::kPermerror);
  CHECK(over.reason.find("more than 10 DNS lookups") != std::string::npos);
}

TEST_CASE("4.6.4: includes and redirects count; a loop ends as permerror") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 include:loop.example.net -all"});
  zone.txt("loop.example.net", {"v=spf1 include:example.com -all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPermerror);
  zone.txt("example.com", {"v=spf1 redirect=example.com"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPermerror);
  // A chain of 10 redirects ends at its record.
  for (int i = 0; i < 10; ++i) {
    zone.txt("r" + std::to_string(i) + ".example.net", {"v=spf1 redirect=r" + std::to_string(i + 1) + ".example.net"});
  }
  zone.txt("r10.example.net", {"v=spf1 +all"});
  zone.txt("example.com", {"v=spf1 redirect=r1.example.net"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPass);
  zone.txt("example.com", {"v=spf1 redirect=r0.example.net"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kPermerror);
}

TEST_CASE("4.6.4: two void lookups are fine, the third is permerror") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 a:v1.example.com mx:v2.example.com -all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kFail);
  zone.txt("example.com", {"v=spf1 a:v1.example.com mx:v2.example.com exists:v3.example.com -all"});
  const SpfVerdict over = check(zone, "192.0.2.1");
  CHECK(over.result == SpfResult::kPermerror);
  CHECK(over.reason.find("void") != std::string::npos);
  // Names with records are not void.
  zone.txt("example.com", {"v=spf1 a:v1.example.com a:mail.example.com a:mx1.example.com mx:v2.example.com -all"});
  CHECK(check(zone, "192.0.2.1").result == SpfResult::kFail);
}

TEST_CASE("5: a DNS failure of a, mx, an MX host or exists is temperror; of ptr, no match") {
  SpfZone zone = base_zone();
  zone.fail("down.example.com", DnsRecordType::kA).fail("down.example.com", DnsRecordType::kMx);
  for (const char* record : {"v=spf1 a:down.example.com -all", "v=spf1 mx:down.example.com -all",
                             "v=spf1 exists:down.example.com -all"}) {
    CAPTURE(record);
    zone.txt("example.com", {record});
    CHECK(check(zone, "192.0.2.1").result == SpfResult::kTemperror);
  }
  zone.mx("halfdown.example.com", {"mx1.example.com", "down.example.com"});
  zone.txt("example.com", {"v=spf1 mx:halfdown.example.com -all"});
  CHECK(check(zone, "192.0.2.21").result == SpfResult::kPass);
  CHECK(check(zone, "192.0.2.3").result == SpfResult::kTemperror);
  zone.fail("3.2.0.192.in-addr.arpa", DnsRecordType::kPtr);
  zone.txt("example.com", {"v=spf1 ptr -all"});
  CHECK(check(zone, "192.0.2.3").result == SpfResult::kFail);
}

TEST_CASE("5.4: the addresses of all MX hosts are asked in one step; a null MX is skipped") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 mx -all"});
  std::vector<DnsRecordQuery> asked;
  SpfEvaluation evaluation(SpfIdentity::mail_from(*IpAddress::parse("192.0.2.99"), "a@example.com", "h.example"));
  int steps = 0;
  for (; steps < 10; ++steps) {
    auto step = evaluation.step();
    if (step.verdict) break;
    if (steps == 2) {
      REQUIRE(step.queries.size() == 2);
      CHECK(step.queries[0] == DnsRecordQuery{"mx1.example.com", DnsRecordType::kA});
      CHECK(step.queries[1] == DnsRecordQuery{"mx2.example.com", DnsRecordType::kA});
    }
    for (const auto& query : step.queries) evaluation.answer(query, zone.lookup(query));
  }
  CHECK(steps == 3);  // TXT, MX, the hosts' A records
  zone.mx("nullmx.example.com", {""});
  zone.txt("example.com", {"v=spf1 mx:nullmx.example.com -all"});
  CHECK(check(zone, "192.0.2.1", "a@example.com", &asked).result == SpfResult::kFail);
}

TEST_CASE("5.5: only the first 10 PTR names are validated") {
  SpfZone zone = base_zone();
  std::vector<std::string> names;
  for (int i = 1; i <= 11; ++i) {
    names.push_back("n" + std::to_string(i) + ".example.org");
    zone.address(names.back(), {i == 11 ? "192.0.2.44" : "203.0.113.1"});
  }
  zone.ptr("44.2.0.192.in-addr.arpa", names);
  zone.txt("example.com", {"v=spf1 ptr:example.org -all"});
  std::vector<DnsRecordQuery> asked;
  CHECK(check(zone, "192.0.2.44", "a@example.com", &asked).result == SpfResult::kFail);
  CHECK(std::none_of(asked.begin(), asked.end(), [](const auto& q) { return q.name == "n11.example.org"; }));
  std::swap(names[0], names[10]);
  zone.ptr("44.2.0.192.in-addr.arpa", names);
  CHECK(check(zone, "192.0.2.44").result == SpfResult::kPass);
}

TEST_CASE("7: macros in a query name, the 253-byte truncation, %{p}") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 exists:%{ir}.%{v}.%{l1r-}.%{o}._spf.%{d2} -all"});
  std::vector<DnsRecordQuery> asked;
  const SpfVerdict verdict = check(zone, "192.0.2.3", "strong-bad@example.com", &asked);
  CAPTURE(verdict.reason);
  CHECK(verdict.result == SpfResult::kFail);
  CHECK(verdict.identity_macros);
  CHECK(asked.back() == DnsRecordQuery{"3.2.0.192.in-addr.strong.example.com._spf.example.com", DnsRecordType::kA});

  // A long local part: labels are cut from the left to 253 bytes.
  const std::string label(60, 'x');
  const std::string local = label + "." + label + "." + label + "." + label + "." + label;
  zone.txt("example.com", {"v=spf1 exists:%{l}.example.com -all"});
  asked.clear();
  check(zone, "192.0.2.3", local + "@example.com", &asked);
  REQUIRE_FALSE(asked.empty());
  CHECK(asked.back().name.size() <= 253);
  CHECK(asked.back().name == label + "." + label + "." + label + ".example.com");

  // %{p}: a validated name under the domain, else "unknown".
  zone.txt("example.com", {"v=spf1 exists:%{p}.names.example.com -all"});
  asked.clear();
  check(zone, "192.0.2.10", "a@example.com", &asked);
  CHECK(asked.back().name == "mail.example.com.names.example.com");
  asked.clear();
  check(zone, "192.0.2.66", "a@example.com", &asked);
  CHECK(asked.back().name == "unknown.names.example.com");
}

TEST_CASE("7.3: IPv6 addresses in macros are dotted nibbles; exists asks A for any client") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 exists:%{i}.%{v}.example.com -all"});
  std::vector<DnsRecordQuery> asked;
  check(zone, "2001:db8::cb01", "a@example.com", &asked);
  CHECK(asked.back() ==
        DnsRecordQuery{"2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1.ip6.example.com",
                       DnsRecordType::kA});
}

TEST_CASE("the verdict's TTL is the smallest of the answers it rests on") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 include:short.example.net -all"}, 3600);
  zone.txt("short.example.net", {"v=spf1 ip4:192.0.2.0/24 -all"}, 120);
  const SpfVerdict verdict = check(zone, "192.0.2.1");
  CHECK(verdict.result == SpfResult::kPass);
  CHECK(verdict.ttl == std::chrono::seconds(120));
  CHECK_FALSE(verdict.identity_macros);
  CHECK(verdict.reason == "example.com include:short.example.net");
  zone.txt("example.com", {"v=spf1 ip4:192.0.2.1 -all"}, 3600);
  CHECK(check(zone, "192.0.2.1").ttl == std::chrono::seconds(3600));
}

TEST_CASE("exp= is never fetched; a redirect's %{d} is its own domain") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 exp=explain.example.com redirect=r.example.net"});
  zone.txt("r.example.net", {"v=spf1 exists:%{d}.check.example.org -all"});
  std::vector<DnsRecordQuery> asked;
  CHECK(check(zone, "192.0.2.1", "a@example.com", &asked).result == SpfResult::kFail);
  CHECK(std::none_of(asked.begin(), asked.end(), [](const auto& q) { return q.name == "explain.example.com"; }));
  CHECK(asked.back().name == "r.example.net.check.example.org");
}

TEST_CASE("a step never asks twice for what it was answered, and asks nothing after its verdict") {
  SpfZone zone = base_zone();
  zone.txt("example.com", {"v=spf1 a mx include:provider.example.net ptr -all"});
  SpfEvaluation evaluation(SpfIdentity::mail_from(*IpAddress::parse("192.0.2.250"), "a@example.com", "h.example"));
  std::vector<DnsRecordQuery> seen;
  for (int i = 0; i < 20; ++i) {
    auto step = evaluation.step();
    if (step.verdict) {
      CHECK(step.verdict->result == SpfResult::kFail);
      CHECK(step.queries.empty());
      break;
    }
    REQUIRE_FALSE(step.queries.empty());
    for (const auto& query : step.queries) {
      CHECK(std::find(seen.begin(), seen.end(), query) == seen.end());
      seen.push_back(query);
      evaluation.answer(query, zone.lookup(query));
    }
  }
}

TEST_CASE("the verdict names the mechanism that matched; through include:, the included one") {
  const SpfVerdict all = check_record("v=spf1 -ip4:203.0.113.0/24 +all", "192.0.2.1");
  CHECK(all.result == SpfResult::kPass);
  CHECK(all.matched.mechanism == SpfMechanism::kAll);
  CHECK(all.matched.term == "+all");
  CHECK(all.matched.prefix == -1);

  const SpfVerdict ip4 = check_record("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.1");
  CHECK(ip4.matched.mechanism == SpfMechanism::kIp4);
  CHECK(ip4.matched.prefix == 24);
  CHECK_FALSE(ip4.matched.ipv6);
  const SpfVerdict ip6 = check_record("v=spf1 ip6:2001:db8::/32 -all", "2001:db8::5");
  CHECK(ip6.matched.mechanism == SpfMechanism::kIp6);
  CHECK(ip6.matched.prefix == 32);
  CHECK(ip6.matched.ipv6);

  // a and mx: their cidr-length for the client's family.
  const SpfVerdict a = check_record("v=spf1 a/16//48 -all", "192.0.200.1");
  CHECK(a.matched.mechanism == SpfMechanism::kA);
  CHECK(a.matched.prefix == 16);
  const SpfVerdict mx = check_record("v=spf1 mx/16//48 -all", "2001:db8::99");
  CHECK(mx.matched.mechanism == SpfMechanism::kMx);
  CHECK(mx.matched.prefix == 48);
  CHECK(mx.matched.ipv6);

  // A fail reports its mechanism too; no match reports none.
  CHECK(check_record("v=spf1 -all", "192.0.2.1").matched.mechanism == SpfMechanism::kAll);
  CHECK(check_record("v=spf1 ip4:203.0.113.0/24", "192.0.2.1").matched.mechanism == SpfMechanism::kNone);

  const SpfVerdict provider = check_record("v=spf1 include:provider.example.net -all", "198.51.100.7");
  CHECK(provider.result == SpfResult::kPass);
  CHECK(provider.matched.mechanism == SpfMechanism::kIp4);
  CHECK(provider.matched.prefix == 24);
  CHECK(provider.matched.term == "ip4:198.51.100.0/24");
  // An include whose record failed is no match: what matched later counts.
  const SpfVerdict after = check_record("v=spf1 include:softfail.example.net ip4:192.0.2.0/25 -all",
                                        "192.0.2.1");
  CHECK(after.matched.mechanism == SpfMechanism::kIp4);
  CHECK(after.matched.prefix == 25);
  const SpfVerdict inner_all = check_record("v=spf1 include:pass.example.net -all", "203.0.113.9");
  CHECK(inner_all.result == SpfResult::kPass);
  CHECK(inner_all.matched.mechanism == SpfMechanism::kAll);
  const SpfVerdict redirected = check_record("v=spf1 redirect=pass.example.net", "203.0.113.9");
  CHECK(redirected.matched.mechanism == SpfMechanism::kAll);
}

}  // TEST_SUITE
