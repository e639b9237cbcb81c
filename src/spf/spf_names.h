// Domain names as SPF uses them (RFC 7208 §4.3, §7.3): which names may be
// checked or asked for, the left-truncation of long expansions, and the
// forms of a client address in macros and reverse lookups.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "greylist/ip_address.h"

namespace greylist::spf {

constexpr std::size_t kMaxDomainLength = 253;

// A domain check_host() may check (§4.3): at most 253 bytes without the
// final dot, two labels or more, each 1..63 bytes of visible ASCII other
// than '\\', the last a top label. Anything else (a literal "[192.0.2.1]",
// "localhost", "a..example") gives the result none.
bool is_checkable_domain(std::string_view domain);

// A top label (RFC 7208 §7.1): letters, digits and inner hyphens, not all
// digits.
bool is_toplabel(std::string_view label);

// The name to ask DNS for an expanded domain-spec: lower case, without the
// final dot, left labels removed until it is at most 253 bytes (§7.3);
// nullopt when a label is empty, longer than 63 bytes or holds a byte
// that is not visible ASCII or is '\\'.
std::optional<std::string> query_name(std::string_view expanded);

// %{i}: "192.0.2.1"; IPv6 as 32 dot-separated nibbles.
std::string macro_address(const IpAddress& address);

// The PTR name: "1.2.0.192.in-addr.arpa", "...ip6.arpa".
std::string reverse_name(const IpAddress& address);

// Whether `name` is `domain` or a name under it (both canonical).
bool is_within(std::string_view name, std::string_view domain);

}  // namespace greylist::spf
