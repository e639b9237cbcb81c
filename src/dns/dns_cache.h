// DnsCache: DNS list answers by name until they expire, at most `capacity`
// names; when full, the least recently used name goes first (TtlCache).
// Not thread-safe (AresResolver locks it).
#pragma once

#include <string>

#include "greylist/dns_resolver.h"
#include "util/ttl_cache.h"

namespace greylist {

using DnsCache = TtlCache<std::string, DnsAnswer>;

}  // namespace greylist
