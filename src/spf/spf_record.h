// SPF records (RFC 7208 §4.5, §4.6, §5, §6): telling an SPF record from
// other TXT records, and parsing one into terms. The text comes from DNS
// (untrusted); a record with any syntax error anywhere is rejected whole
// (§4.6: permerror before anything is evaluated).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/ip_address.h"
#include "greylist/spf_result.h"
#include "greylist/status.h"
#include "spf/spf_macro.h"

namespace greylist::spf {

enum class Mechanism { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct Term {
  SpfResult qualifier = SpfResult::kPass;  // + pass, - fail, ~ softfail, ? neutral
  Mechanism mechanism = Mechanism::kAll;
  std::string text;  // the term as written (for the verdict's reason)
  // include, exists: the target; a, mx, ptr: the target when given (empty:
  // the domain being checked).
  MacroString domain;
  int cidr4 = 32;   // a, mx
  int cidr6 = 128;  // a, mx
  std::optional<IpNetwork> network;  // ip4, ip6
};

struct Record {
  std::vector<Term> terms;      // the mechanisms, in order
  std::optional<Term> redirect;  // redirect=domain-spec (mechanism kInclude, the target)
  bool has_explanation = false;  // exp= was given (parsed, never fetched)
};

// Whether TXT text is an SPF version 1 record: "v=spf1" (any case) alone or
// followed by a space.
bool is_spf_record(std::string_view text);

// Parses an SPF record (is_spf_record() holds). InvalidArgument naming the
// first bad term.
Result<Record> parse_record(std::string_view text);

}  // namespace greylist::spf
