// AresRecordResolver: DnsRecordResolver over c-ares (TXT, A, AAAA, MX, PTR
// for SPF), with one thread of its own and a bounded cache of records.
//
// It takes the DNS lists resolver's options (greylist/ares_resolver.h) and
// keeps their meaning:
// - every resolve() ends by its deadline (the caller's, or `timeout` after
//   the call, whichever is first); each query is its own, so a silent
//   server never delays the answers of other names;
// - records are cached for their TTL (no records: the SOA's negative TTL),
//   clamped to [min_ttl, max_ttl]; failures for failure_ttl; at most
//   cache_entries (type, name) pairs, least recently used evicted first. A
//   cached answer's DnsRecords::ttl is what is left of its time;
// - concurrent lookups of one (type, name) share one query;
// - a failed or timed-out lookup is logged at most once per
//   failure_log_interval, with the count of the others;
// - past max_pending_lookups waiting calls, a new one is answered at once
//   with kFailed (logged once a minute).
//
// Thread-safe. The destructor stops the thread; callbacks still pending
// then are called with kFailed records before it returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "greylist/ares_resolver.h"
#include "greylist/dns_record_resolver.h"
#include "greylist/status.h"

namespace greylist {

// Counters since start, for metrics and tests.
struct AresRecordResolverStats {
  std::uint64_t lookups = 0;     // queries asked for
  std::uint64_t cache_hits = 0;  // answered from the cache
  std::uint64_t queries = 0;     // sent to the network (one per (type, name) in flight)
  std::uint64_t failures = 0;    // network queries that failed or timed out
  std::size_t cached = 0;        // (type, name) pairs in the cache now
};

class AresRecordResolver final : public DnsRecordResolver {
 public:
  // Initializes c-ares and starts the thread. InvalidArgument naming a bad
  // server; Unavailable when c-ares cannot start (no resolv.conf...).
  static Result<std::unique_ptr<AresRecordResolver>> create(const AresResolverOptions& options);

  void resolve(std::vector<DnsRecordQuery> queries, Deadline deadline, Callback done) override;
  AresRecordResolverStats stats() const;
  // The servers asked, as c-ares has them (from --dns-server or
  // resolv.conf): "127.0.0.1:53,[2001:db8::1]:5353". Named by the failure
  // warnings. Thread-safe.
  const std::string& servers() const;

  ~AresRecordResolver() override;
  AresRecordResolver(const AresRecordResolver&) = delete;
  AresRecordResolver& operator=(const AresRecordResolver&) = delete;

  class Impl;

 private:
  explicit AresRecordResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace greylist
