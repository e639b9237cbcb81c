// One line of a whitelist file, parsed (syntax: greylist/static_whitelist.h).
// Pure functions over untrusted file content; errors are reasons without the
// file name, which the loader adds.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/regex.hpp>

#include "greylist/ip_address.h"
#include "greylist/status.h"

namespace greylist::whitelist {

inline constexpr std::size_t kMaxLineBytes = 4096;

struct Regex {
  boost::regex pattern;
};
struct NameSuffix {
  std::string suffix;     // lower-case, without a leading dot
  bool subdomains_only;   // the rule was written ".example.com"
};
struct Network {
  IpNetwork network;
};
struct Address {          // user@domain
  std::string user;
  std::string domain;
};
struct LocalPart {        // user@
  std::string user;
};
struct Domain {           // domain and its subdomains
  std::string domain;
};

using ClientRule = std::variant<Regex, NameSuffix, Network>;
using RecipientRule = std::variant<Regex, Address, LocalPart, Domain>;

// The rule text of a raw line: comment and surrounding white space removed;
// empty when the line holds no rule.
std::string_view rule_text(std::string_view line);

// Parse a rule text (from rule_text, non-empty). InvalidArgument with the
// reason ("doesn't look like a hostname", "bad regex: ...") otherwise.
Result<ClientRule> parse_client_rule(std::string_view text);
Result<RecipientRule> parse_recipient_rule(std::string_view text);

// The regex BODY (between the slashes), compiled as every list here does:
// Perl syntax, case ignored. InvalidArgument("empty regex", "bad regex
// /BODY/: why") otherwise.
Result<Regex> compile_regex(std::string_view body);
// regex_search that treats Boost.Regex giving up (pathological
// backtracking on this subject) as no match.
bool regex_search(const boost::regex& pattern, std::string_view subject);
// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// Matching. `name` and `recipient` are the raw request values; case is
// ignored. A regex that gives up (too complex for the input) is no match.
bool matches_name(const ClientRule& rule, std::string_view client_name);
bool matches_address(const ClientRule& rule, const IpAddress& address);
bool matches_recipient(const RecipientRule& rule, std::string_view recipient);

}  // namespace greylist::whitelist
