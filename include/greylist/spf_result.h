// SpfResult: the results of an SPF check (RFC 7208 §2.6).
#pragma once

#include <cstdint>

namespace greylist {

enum class SpfResult : std::uint8_t {
  kNone,       // no SPF record, or no valid domain to ask about
  kNeutral,    // the domain says nothing about the address (?all, no match)
  kPass,       // the domain authorizes the address
  kFail,       // the domain says the address may not send for it (-all)
  kSoftfail,   // ... probably may not (~all)
  kTemperror,  // a DNS failure or timeout: the answer may differ later
  kPermerror,  // a record that cannot be interpreted, or over a limit
};

// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror".
const char* to_string(SpfResult result);

}  // namespace greylist
