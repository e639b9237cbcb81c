#include "core/whitelist_rules.h"

#include <doctest/doctest.h>

using namespace greylist;
using namespace greylist::whitelist;

namespace {
bool name_matches(std::string_view rule_line, std::string_view name) {
  auto rule = parse_client_rule(rule_line);
  REQUIRE(rule.ok());
  return matches_name(rule.value(), name);
}
bool address_matches(std::string_view rule_line, std::string_view address) {
  auto rule = parse_client_rule(rule_line);
  REQUIRE(rule.ok());
  auto ip = IpAddress::parse(address);
  REQUIRE(ip);
  return matches_address(rule.value(), *ip);
}
bool recipient_matches(std::string_view rule_line, std::string_view recipient) {
  auto rule = parse_recipient_rule(rule_line);
  REQUIRE(rule.ok());
  return matches_recipient(rule.value(), recipient);
}
}  // namespace

TEST_SUITE("whitelist_rules") {

TEST_CASE("rule text: comments and white space") {
  CHECK(rule_text("  example.com   # a comment") == "example.com");
  CHECK(rule_text("# only a comment") == "");
  CHECK(rule_text("\t\r") == "");
  CHECK(rule_text("/a#b/") == "/a");  // '#' starts a comment everywhere, as in postgrey
}

TEST_CASE("client rules: which kind each line is") {
  CHECK(std::holds_alternative<Regex>(parse_client_rule("/^mail\\d+\\.example\\.com$/").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("192.0.2.1").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("192.0.2.0/24").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("192.0.2").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("10.1").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("2001:db8::/32").value()));
  CHECK(std::holds_alternative<Network>(parse_client_rule("2001:db8::1").value()));
  CHECK(std::holds_alternative<NameSuffix>(parse_client_rule("example.com").value()));
  CHECK(std::holds_alternative<NameSuffix>(parse_client_rule(".outlook.com").value()));
  CHECK(std::holds_alternative<NameSuffix>(parse_client_rule("localhost").value()));
}

TEST_CASE("client rules: broken lines are refused with a reason") {
  const std::pair<const char*, const char*> cases[] = {
      {"mail example.com", "hostname"},
      {"192.0.2.300", "address"},
      {"192.0.2.0/33", "address"},
      {"1.2.3.4.5", "address"},
      {"2001:db8::/129", "address"},
      {"2001:zz8::1", "address"},
      {"/(unclosed/", "bad regex"},
      {"//", "empty regex"},
      {"exa$mple.com", "hostname"},
      {"example..com", "hostname"},
      {".", "hostname"},
  };
  for (const auto& [line, reason] : cases) {
    const std::string text = line;
    CAPTURE(text);
    auto rule = parse_client_rule(line);
    REQUIRE_FALSE(rule.ok());
    const std::string message = rule.status().message();
    CAPTURE(message);
    CHECK(message.find(reason) != std::string::npos);
  }
}

TEST_CASE("client matching: names, suffixes, regexes; unknown never matches") {
  CHECK(name_matches("example.com", "example.com"));
  CHECK(name_matches("example.com", "mx1.EXAMPLE.com"));
  CHECK_FALSE(name_matches("example.com", "badexample.com"));
  CHECK_FALSE(name_matches("example.com", "example.com.evil.test"));
  CHECK(name_matches(".outlook.com", "mail-db8eur05on2101.outbound.protection.outlook.com"));
  CHECK_FALSE(name_matches(".outlook.com", "outlook.com"));
  CHECK(name_matches("/^mail-.*\\.google\\.com$/", "mail-wr1-f41.GOOGLE.com"));
  CHECK_FALSE(name_matches("/^mail-.*\\.google\\.com$/", "xmail-wr1.google.com.evil"));
  CHECK_FALSE(name_matches("/.*/", "unknown"));
  CHECK_FALSE(name_matches("unknown", "unknown"));
  CHECK_FALSE(name_matches("/.*/", ""));
}

TEST_CASE("client matching: addresses, prefixes, CIDR, IPv6") {
  CHECK(address_matches("192.0.2.1", "192.0.2.1"));
  CHECK_FALSE(address_matches("192.0.2.1", "192.0.2.2"));
  CHECK(address_matches("10.9.9", "10.9.9.200"));
  CHECK_FALSE(address_matches("10.9.9", "10.9.10.1"));
  CHECK(address_matches("10.9", "10.9.200.1"));  // /16, not postgrey's accidental /24
  CHECK(address_matches("192.168.0.0/16", "192.168.77.1"));
  CHECK(address_matches("2001:db8::/32", "2001:db8:ffff::1"));
  CHECK_FALSE(address_matches("2001:db8::/32", "2001:db9::1"));
  CHECK(address_matches("192.0.2.0/24", "::ffff:192.0.2.9"));
  CHECK_FALSE(address_matches("192.0.2.0/24", "2001:db8::1"));
}

TEST_CASE("recipient rules and matching, postgrey's semantics") {
  CHECK(recipient_matches("postmaster@", "postmaster@example.com"));
  CHECK(recipient_matches("postmaster@", "Postmaster+tag@example.com"));
  CHECK_FALSE(recipient_matches("postmaster@", "postmaster2@example.com"));
  CHECK_FALSE(recipient_matches("postmaster@", "xpostmaster@example.com"));
  CHECK(recipient_matches("abuse@example.com", "ABUSE@example.com"));
  CHECK(recipient_matches("abuse@example.com", "abuse+x@example.com"));
  CHECK_FALSE(recipient_matches("abuse@example.com", "abuse@sub.example.com"));
  CHECK(recipient_matches("example.com", "anyone@example.com"));
  CHECK(recipient_matches("example.com", "anyone@lists.example.com"));
  CHECK_FALSE(recipient_matches("example.com", "anyone@notexample.com"));
  CHECK_FALSE(recipient_matches("example.com", "example.com"));
  CHECK(recipient_matches("/^list-.*@example\\.com$/", "list-users@example.com"));
  for (const std::string bad : {"two words@example.com", "@example.com", ".example.com", "/(/"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_recipient_rule(bad).ok());
  }
}

TEST_CASE("a pathological regex on a long hostile name gives no match, not a hang or crash") {
  auto rule = parse_client_rule("/(a+)+b/");
  REQUIRE(rule.ok());
  CHECK_FALSE(matches_name(rule.value(), std::string(5000, 'a')));
}

}  // TEST_SUITE
