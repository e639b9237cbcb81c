// AresResolver: DnsResolver over c-ares, with one thread of its own and a
// bounded cache of answers.
//
// - Every lookup ends by its deadline (`timeout` after resolve()): a
//   server that never answers costs each waiting request at most that,
//   and never delays the answers of other names (each name is its own
//   query; the thread only waits in poll()).
// - Answers are cached for their TTL (NXDOMAIN for the SOA's negative
//   TTL), clamped to [min_ttl, max_ttl]; failures for failure_ttl, so a
//   dead list is not asked again for every message. The cache holds at
//   most cache_entries names (least recently used evicted first).
// - Concurrent lookups of one name share one query.
// - A failed or timed-out lookup is logged at most once per
//   failure_log_interval for each zone (the name minus the client part),
//   with the count of the others.
//
// Thread-safe. The destructor stops the thread; callbacks still pending
// then are called with kFailed answers before it returns.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "greylist/dns_resolver.h"
#include "greylist/status.h"

namespace greylist {

struct AresResolverOptions {
  // "HOST" or "HOST:PORT", IPv6 as "[ADDR]:PORT" or a bare ADDR (port 53).
  // Empty: the name servers of /etc/resolv.conf.
  std::vector<std::string> servers;
  // Deadline of one resolve(). 1 s: a local or nearby caching resolver
  // answers a DNS list in milliseconds, and a cold recursive lookup in a
  // few hundred; 1 s leaves room for one retransmission (each try gets
  // half of it) while adding at most 1 s to a milter reply, far below
  // Postfix's milter_command_timeout and policy time limits.
  std::chrono::milliseconds timeout{1000};
  std::size_t cache_entries = 100000;
  std::chrono::seconds min_ttl{10};
  std::chrono::seconds max_ttl{std::chrono::hours(24)};
  std::chrono::seconds failure_ttl{30};
  std::chrono::seconds failure_log_interval{300};
  // resolve() calls waiting for the network at most; past it a call is
  // answered at once with kFailed (logged once a minute), so a flood of
  // new clients cannot grow the resolver's queues without bound.
  std::size_t max_pending_lookups = 10000;
};

// Counters since start, for metrics and tests.
struct AresResolverStats {
  std::uint64_t lookups = 0;     // names asked for
  std::uint64_t cache_hits = 0;  // answered from the cache
  std::uint64_t queries = 0;     // sent to the network (one per name in flight)
  std::uint64_t failures = 0;    // queries that failed or timed out
  std::size_t cached = 0;        // names in the cache now
};

class AresResolver final : public DnsResolver {
 public:
  // Initializes c-ares and starts the thread. InvalidArgument naming the
  // bad server; Unavailable when c-ares cannot start (no resolv.conf...).
  static Result<std::unique_ptr<AresResolver>> create(const AresResolverOptions& options);

  void resolve(std::vector<std::string> names, Callback done) override;
  AresResolverStats stats() const;
  // The servers asked, as c-ares has them (from --dns-server or
  // resolv.conf): "127.0.0.1:53,[2001:db8::1]:5353". Named by the failure
  // warnings. Thread-safe.
  const std::string& servers() const;

  ~AresResolver() override;
  AresResolver(const AresResolver&) = delete;
  AresResolver& operator=(const AresResolver&) = delete;

  class Impl;

 private:
  explicit AresResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace greylist
