// The values of clauses and lists: parsing one token for a subject, and
// matching it against a request. Syntax by subject (greylist-milter.rules(5)):
//   addr     192.0.2.1, 192.0.2.0/24, 2001:db8::/32
//   domain   example.com (it and every name under it), .example.com (only
//            under it), /REGEX/; a client without a verified name
//            ("unknown") matches no domain value
//   from     user@domain (also with +extension), user@, @domain (exactly
//   rcpt     that domain), domain (it and its subdomains), /REGEX/
//   helo     the name (case ignored), /REGEX/
//   auth     the SMTP AUTH user (case ignored), /REGEX/; a client that did
//            not authenticate matches no auth value
// Regexes are Perl syntax, case-insensitive, and search anywhere in the value.
#pragma once

#include <string>

#include "core/rules/rule_model.h"
#include "core/rules/rules_lexer.h"
#include "greylist/status.h"

namespace greylist::rules {

// InvalidArgument with the reason ("not an address or network: ...").
Result<Value> parse_value(Subject subject, const Token& token);

// The request's field a clause on `subject` reads (lower case); for addr,
// which has no text, the AUTH user (never read as such).
const std::string& field(Subject subject, const Subjects& subjects);

// Whether the request's field for `subject` matches `value`.
bool value_matches(Subject subject, const Value& value, const Subjects& subjects);

// `name` (lower case) is the suffix or under it (only under it when the
// value was written ".suffix").
bool name_at_or_under(std::string_view name, const whitelist::NameSuffix& suffix);

}  // namespace greylist::rules
