// A prefilter for the rules' regular expressions: a piece of literal text
// every match must contain, so that most subjects are turned away by a
// substring search instead of running the regex engine (a rules file may
// hold hundreds of regexes, each tried on every request).
//
// Conservative by construction: only top-level literal runs count (text
// inside groups, classes and alternations, characters made optional by
// ?, * or {, escapes of letters or digits, and anything at all in a
// pattern with "|", "(?" or "\Q" are skipped). Pure function.
#pragma once

#include <string>
#include <string_view>

namespace greylist::rules {

// The longest literal run of `pattern` (Perl syntax), lower case; empty
// when there is none worth searching for.
std::string required_literal(std::string_view pattern);

// Whether `lowered` (already lower case) contains `literal`.
inline bool may_match(std::string_view lowered, std::string_view literal) {
  return literal.empty() || lowered.find(literal) != std::string_view::npos;
}

}  // namespace greylist::rules
