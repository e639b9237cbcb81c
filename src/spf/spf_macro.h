// SPF macro strings (RFC 7208 §7): parsing into tokens, and expansion with
// the values an evaluation supplies. The text comes from DNS records
// (untrusted): parsing rejects what the grammar does not allow, and an
// expansion stops at kMaxExpansion bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist::spf {

// One piece of a macro string: a literal (letter 0), or a macro
// "%{letter keep r delimiters}".
struct MacroToken {
  std::string literal;  // letter 0: the text ("%%", "%_", "%-" give "%", " ", "%20")
  bool expand_form = false;  // a literal written as "%%", "%_" or "%-"
  char letter = 0;           // lower case: s l o d i p h v (and c r t in explanations)
  bool url_escape = false;   // the letter was upper case
  int keep = 0;              // rightmost parts kept, 0 for all
  bool reverse = false;
  std::string delimiters;  // empty: "."
};
using MacroString = std::vector<MacroToken>;

// Parses `text`. `explanation` allows the letters c, r, t (RFC 7208 §7.2:
// explanation strings only). InvalidArgument naming the fault.
Result<MacroString> parse_macro_string(std::string_view text, bool explanation);

// Whether `text` is a domain-spec (§7.1: a macro string ending in a macro or
// in "." and a top label of letters, digits and inner hyphens, not all
// digits, with an optional final dot). InvalidArgument naming the fault.
Result<MacroString> parse_domain_spec(std::string_view text);

// What a macro letter stands for, given by the evaluation.
class MacroValues {
 public:
  virtual ~MacroValues() = default;
  // The value of lower-case `letter`; nullopt while it is not known yet
  // (p waits for DNS answers).
  virtual std::optional<std::string> value(char letter) = 0;
};

constexpr std::size_t kMaxExpansion = 8192;

struct Expansion {
  enum class Kind { kOk, kBlocked, kTooLong };
  Kind kind = Kind::kOk;
  std::string text;  // kOk only
};

// Expands `macros` with `values` (§7.3: split on the delimiters, reverse,
// keep the rightmost parts, join with dots, URL-escape for upper-case
// letters). kBlocked when a value is not known yet; kTooLong past
// kMaxExpansion bytes.
Expansion expand(const MacroString& macros, MacroValues& values);

}  // namespace greylist::spf
