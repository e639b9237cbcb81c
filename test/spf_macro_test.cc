// SPF macros (RFC 7208 §7): the expansions of §7.4's examples, escaping,
// truncation inputs and the grammar's rejections.
#include "spf/spf_macro.h"

#include <doctest/doctest.h>

#include <map>

#include "spf/spf_names.h"

using namespace greylist;
using namespace greylist::spf;

namespace {

// The values of §7.4: sender strong-bad@email.example.com, client 192.0.2.3.
class Values final : public MacroValues {
 public:
  Values() = default;
  Values(char letter, std::string value) { values[letter] = std::move(value); }
  std::map<char, std::string> values{{'s', "strong-bad@email.example.com"},
                                     {'l', "strong-bad"},
                                     {'o', "email.example.com"},
                                     {'d', "email.example.com"},
                                     {'i', "192.0.2.3"},
                                     {'v', "in-addr"},
                                     {'h', "mx.example.org"}};
  std::optional<std::string> value(char letter) override {
    const auto it = values.find(letter);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

std::string expanded(std::string_view text, Values values = {}) {
  auto macros = parse_macro_string(text, false);
  REQUIRE_MESSAGE(macros.ok(), macros.status().message());
  const Expansion expansion = expand(macros.value(), values);
  REQUIRE(expansion.kind == Expansion::Kind::kOk);
  return expansion.text;
}

}  // namespace

TEST_SUITE("spf_macro") {

TEST_CASE("the examples of RFC 7208 section 7.4") {
  const std::pair<const char*, const char*> examples[] = {
      {"%{s}", "strong-bad@email.example.com"},
      {"%{o}", "email.example.com"},
      {"%{d}", "email.example.com"},
      {"%{d4}", "email.example.com"},
      {"%{d3}", "email.example.com"},
      {"%{d2}", "example.com"},
      {"%{d1}", "com"},
      {"%{dr}", "com.example.email"},
      {"%{d2r}", "example.email"},
      {"%{l}", "strong-bad"},
      {"%{l-}", "strong.bad"},
      {"%{lr}", "strong-bad"},
      {"%{lr-}", "bad.strong"},
      {"%{l1r-}", "strong"},
      {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
      {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
      {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
      {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
      {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
  };
  for (const auto& [macro, expected] : examples) {
    CAPTURE(std::string(macro));
    CHECK(expanded(macro) == expected);
  }
  Values v6;
  v6.values['i'] = macro_address(*IpAddress::parse("2001:db8::cb01"));
  v6.values['v'] = "ip6";
  CHECK(expanded("%{ir}.%{v}._spf.%{d2}", v6) ==
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_CASE("escapes, several delimiters, upper-case letters URL-escaped, large digit counts") {
  CHECK(expanded("a%%b%_c%-d") == "a%b c%20d");
  CHECK(expanded("%{l-.}", Values('l', "a-b.c")) == "a.b.c");
  CHECK(expanded("%{lr-+}", Values('l', "a-b+c")) == "c.b.a");
  CHECK(expanded("%{S}") == "strong-bad%40email.example.com");
  CHECK(expanded("%{L}", Values('l', "a b/c~")) == "a%20b%2Fc~");
  CHECK(expanded("%{d99999999999}") == "email.example.com");
  CHECK(expanded("%{h}") == "mx.example.org");
}

TEST_CASE("the grammar's rejections") {
  for (const char* bad : {"%", "a%", "%{", "%{}", "%{x}", "%{d0}", "%{d00}", "%{d1x}", "%{d r}", "%x", "a b",
                          "%{c}", "%{r}", "%{t}", "\x01", "caf\xc3\xa9"}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(parse_macro_string(bad, false).ok());
  }
  // c, r and t are for explanations.
  CHECK(parse_macro_string("%{c} %{r} %{t}", true).ok() == false);  // the spaces
  CHECK(parse_macro_string("%{c}%{r}%{t}", true).ok());
}

TEST_CASE("domain-specs end in a macro or a top label") {
  for (const char* good : {"example.com", "example.com.", "%{d}", "%{d}.example.com", "x.%{d}%%", "a.xn--p1ai",
                           ".com", "a.b-c", "a.1-2"}) {
    CAPTURE(std::string(good));
    CHECK(parse_domain_spec(good).ok());
  }
  for (const char* bad : {"", "com", "example.123", "example.com-", "example.-com", "example.com..",
                          "example.c_m", "%{d}com", "example.com/24"}) {
    CAPTURE(std::string(bad));
    CHECK_FALSE(parse_domain_spec(bad).ok());
  }
}

TEST_CASE("an expansion stops at 8 KiB; p waits for DNS") {
  Values values;
  values.values['l'] = std::string(kMaxExpansion / 2 + 1, 'x');
  auto macros = parse_macro_string("%{l}%{l}", false);
  REQUIRE(macros.ok());
  CHECK(expand(macros.value(), values).kind == Expansion::Kind::kTooLong);
  auto p = parse_macro_string("%{p}.example.com", false);
  REQUIRE(p.ok());
  CHECK(expand(p.value(), values).kind == Expansion::Kind::kBlocked);
}

TEST_CASE("query names: lower case, truncated from the left, labels checked") {
  CHECK(query_name("Mail.Example.COM.") == "mail.example.com");
  CHECK_FALSE(query_name("a..example.com"));
  CHECK_FALSE(query_name(""));
  CHECK_FALSE(query_name(std::string(64, 'a') + ".example.com"));
  CHECK_FALSE(query_name("a\\b.example.com"));
  std::string long_name;
  for (int i = 0; i < 40; ++i) long_name += "label" + std::to_string(i) + ".";
  long_name += "example.com";
  const auto cut = query_name(long_name);
  REQUIRE(cut);
  CHECK(long_name.size() > kMaxDomainLength);
  CHECK(cut->size() <= kMaxDomainLength);
  CHECK(cut->size() > kMaxDomainLength - 9);  // one label fewer would fit
  CHECK(long_name.substr(long_name.size() - cut->size()) == *cut);
  CHECK(reverse_name(*IpAddress::parse("192.0.2.3")) == "3.2.0.192.in-addr.arpa");
  CHECK(reverse_name(*IpAddress::parse("2001:db8::1")) ==
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  CHECK(is_within("mail.example.com", "example.com"));
  CHECK_FALSE(is_within("mailexample.com", "example.com"));
}

}  // TEST_SUITE
