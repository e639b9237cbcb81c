// DnsRecordResolver: DNS records of the types SPF needs (TXT, A, AAAA, MX,
// PTR), with their TTL, asked for in batches.
//
// Beside DnsResolver (greylist/dns_resolver.h), which answers only the A
// lookups of DNS lists and stays as it is. The daemon's implementation is
// AresRecordResolver (c-ares, greylist/ares_record_resolver.h); tests use a
// fake that answers from a table.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "greylist/ip_address.h"

namespace greylist {

enum class DnsRecordType : std::uint8_t { kTxt, kA, kAaaa, kMx, kPtr };

// "TXT", "A", "AAAA", "MX", "PTR".
const char* dns_record_type_name(DnsRecordType type);

struct DnsRecordQuery {
  // Lower case, no final dot (dns_canonical_name()).
  std::string name;
  DnsRecordType type = DnsRecordType::kA;

  friend bool operator==(const DnsRecordQuery&, const DnsRecordQuery&) = default;
};

struct DnsRecords {
  enum class Kind : std::uint8_t {
    kFound,   // at least one record of the type
    kNone,    // NXDOMAIN, or the name has no record of the type (a "void" lookup)
    kFailed,  // timeout, server failure, refused, malformed answer
  };
  Kind kind = Kind::kFailed;
  // kFound: TXT, each record's strings joined without separator (RFC 7208
  // §3.3); MX, the exchange names (lower case, no final dot; "" for a null
  // MX); PTR, the names (likewise).
  std::vector<std::string> texts;
  // kFound, A or AAAA: the addresses.
  std::vector<IpAddress> addresses;
  // How long the answer may still be kept: the smallest TTL of the records
  // (kFound), the negative TTL of the SOA (kNone, 0 without one), 0 for
  // kFailed.
  std::chrono::seconds ttl{0};
};

// Lower case without final dots: the form of DnsRecordQuery::name.
std::string dns_canonical_name(std::string name);

class DnsRecordResolver {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // One DnsRecords per query, in the order of the queries.
  using Callback = std::function<void(std::vector<DnsRecords>)>;

  virtual ~DnsRecordResolver() = default;

  // Looks up every query and calls `done` exactly once with their records,
  // by `deadline` or the resolver's own timeout, whichever comes first: a
  // query not answered by then is kFailed. `done` runs either on the
  // calling thread before resolve() returns (every answer was cached, or
  // `queries` is empty) or on the resolver's own thread; it must not block,
  // and it may call resolve() again (a chain of lookups, as SPF makes).
  // Thread-safe; never blocks on the network.
  virtual void resolve(std::vector<DnsRecordQuery> queries, Deadline deadline, Callback done) = 0;
};

}  // namespace greylist
