// Reading a c-ares query result: the answer for the cache and how long it
// may be kept. The reply bytes come from the network: every read is
// bounds-checked, and anything malformed is a failed lookup.
#pragma once

#include <chrono>
#include <optional>

#include "greylist/dns_resolver.h"

namespace greylist {

struct DnsReply {
  DnsAnswer answer;
  // Listed: the smallest TTL of its A records. Not listed: the negative
  // TTL of the SOA in the authority section (RFC 2308: the smaller of its
  // TTL and MINIMUM); nullopt when the reply has none. Failed: nullopt.
  std::optional<std::chrono::seconds> ttl;
};

// `status` is the ares_callback status; `reply` may be null.
DnsReply read_dns_reply(int status, const unsigned char* reply, int length);

// The negative TTL of a reply (see DnsReply::ttl), nullopt without an SOA.
std::optional<std::chrono::seconds> negative_ttl(const unsigned char* reply, int length);

}  // namespace greylist
