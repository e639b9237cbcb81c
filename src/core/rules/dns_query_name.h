// The DNS name under which a DNS list publishes a client address: the
// address reversed, IPv4 by octet ("192.0.2.1" in zone "dnsbl.example" is
// "1.2.0.192.dnsbl.example") and IPv6 by nibble (32 hex digits, lower
// case, RFC 5782). Pure function.
#pragma once

#include <string>
#include <string_view>

#include "greylist/ip_address.h"

namespace greylist::rules {

// `zone` lower case, without a final dot (as the parser keeps it).
std::string dnsbl_query_name(const IpAddress& address, std::string_view zone);

}  // namespace greylist::rules
