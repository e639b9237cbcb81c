// Reading a c-ares query result of any DnsRecordType into DnsRecords. The
// reply bytes come from the network: every read is bounds-checked, at most
// kMaxRecords records are kept, and anything malformed is a failed lookup.
#pragma once

#include <cstddef>

#include "greylist/dns_record_resolver.h"

namespace greylist {

constexpr std::size_t kMaxRecords = 64;

// `status` is the ares_callback status; `reply` may be null.
DnsRecords read_dns_records(DnsRecordType type, int status, const unsigned char* reply, int length);

}  // namespace greylist
