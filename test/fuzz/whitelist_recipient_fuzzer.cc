// Fuzzes the recipient whitelist: one raw line of a whitelist_recipients
// file (the input's first line) parsed as the loader does, then matched
// against every following line as a recipient.
//
// Invariants: "user@domain" matches that address and its +extensions,
// "user@" that local part at any domain, "domain" any address at it or under
// it, case ignored; a recipient without '@' matches no non-regex rule.
#include <string>
#include <string_view>

#include "core/whitelist_rules.h"
#include "fuzz_check.h"

namespace {

namespace wl = greylist::whitelist;

void check_rule(const wl::RecipientRule& rule) {
  if (const auto* address = std::get_if<wl::Address>(&rule)) {
    FUZZ_CHECK(!address->user.empty() && !address->domain.empty());
    FUZZ_CHECK(address->domain.find('@') == std::string::npos);
    FUZZ_CHECK(wl::matches_recipient(rule, address->user + "@" + address->domain));
    FUZZ_CHECK(wl::matches_recipient(rule, address->user + "+ext@" + address->domain));
    FUZZ_CHECK(!wl::matches_recipient(rule, address->user + "@x." + address->domain));
  } else if (const auto* local = std::get_if<wl::LocalPart>(&rule)) {
    FUZZ_CHECK(!local->user.empty());
    FUZZ_CHECK(wl::matches_recipient(rule, local->user + "@example.org"));
    FUZZ_CHECK(wl::matches_recipient(rule, local->user + "+tag@example.org"));
    FUZZ_CHECK(!wl::matches_recipient(rule, local->user));
  } else if (const auto* domain = std::get_if<wl::Domain>(&rule)) {
    FUZZ_CHECK(!domain->domain.empty());
    FUZZ_CHECK(domain->domain.find('@') == std::string::npos);
    FUZZ_CHECK(wl::matches_recipient(rule, "postmaster@" + domain->domain));
    FUZZ_CHECK(wl::matches_recipient(rule, "postmaster@mx." + domain->domain));
    FUZZ_CHECK(!wl::matches_recipient(rule, domain->domain));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  std::string_view subjects =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  if (line.size() > wl::kMaxLineBytes) return 0;  // the loader refuses such a line
  const std::string_view text = wl::rule_text(line);
  if (text.empty()) return 0;  // a blank or comment line: no rule
  auto parsed = wl::parse_recipient_rule(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  const wl::RecipientRule& rule = parsed.value();
  check_rule(rule);

  while (!subjects.empty()) {
    const auto end = subjects.find('\n');
    const std::string_view subject = subjects.substr(0, end);
    subjects = end == std::string_view::npos ? std::string_view() : subjects.substr(end + 1);
    const bool matched = wl::matches_recipient(rule, subject);
    if (subject.find('@') == std::string_view::npos && !std::holds_alternative<wl::Regex>(rule)) {
      FUZZ_CHECK(!matched);
    }
  }
  return 0;
}
