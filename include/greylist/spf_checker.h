// SpfChecker: SPF verdicts for (sender domain, client address), evaluated
// asynchronously over a DnsRecordResolver and cached.
//
// - check() never blocks: an SpfEvaluation (greylist/spf_evaluation.h) is
//   driven by the resolver's answers, each batch of queries asked when the
//   previous one is answered, on the resolver's thread. The whole
//   evaluation ends by `timeout` after check(): past it the verdict is
//   temperror ("DNS timeout"). A policy event loop calls check() and
//   posts the verdict back to itself (spf/asio_spf_check.h); a milter
//   thread calls check_and_wait(), which waits at most its `wait`.
// - Verdicts are cached per (domain, client address) for the smallest TTL
//   of the DNS answers they rest on, clamped to [min_ttl, max_ttl], at most
//   cache_entries of them (least recently used evicted first). Not cached:
//   temperror (the DNS records resolver caches failures itself, for its
//   failure_ttl) and verdicts that used the sender's local part or the HELO
//   name (%{l}, %{s}, %{h}), which hold for that sender only.
// - With probe_passes, a pass through a, mx or exists is followed by a
//   check of a probe address within the same deadline (SpfVerdict::probe;
//   SpfCheckerOptions): one check makes at most two evaluations.
//
// Thread-safe. The resolver must outlive every check still pending; the
// checker itself may go first (pending checks keep what they need).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "greylist/dns_record_resolver.h"
#include "greylist/spf_evaluation.h"

namespace greylist {

struct SpfCheckerOptions {
  // Deadline of one evaluation. 2 s: a typical provider chain (a TXT and
  // two or three includes) takes three or four round trips, tens of
  // milliseconds each from a nearby caching resolver and a few hundred
  // cold; 2 s covers a slow cold chain with a retransmission and stays far
  // below Postfix's milter and policy time limits.
  std::chrono::milliseconds timeout{2000};
  std::size_t cache_entries = 100000;
  std::chrono::seconds min_ttl{60};
  std::chrono::seconds max_ttl{std::chrono::hours(24)};
  // A pass through a, mx or exists (spf_pass_needs_probe()) is checked
  // again for spf_probe_address() of the client's family, by the same
  // deadline, and the verdict carries that result (SpfVerdict::probe): a
  // record that also authorizes an address no mail server can have matched
  // through a wildcard, not a list of the domain's hosts. The probe is an
  // evaluation with the same limits (10 DNS-querying terms, 2 void
  // lookups), is cached like any verdict (per domain and probe address,
  // so a domain is probed once per TTL), and the whole check still ends by
  // `timeout` after check() (a probe cut by it is a temperror).
  bool probe_passes = false;
};

struct SpfCheckerStats {
  std::uint64_t checks = 0;       // check() calls
  std::uint64_t probes = 0;       // probe checks of passes (probe_passes)
  std::uint64_t cache_hits = 0;   // checks and probes answered from the verdict cache
  std::uint64_t dns_rounds = 0;   // batches of queries asked
  std::uint64_t timeouts = 0;     // evaluations cut by the deadline
  std::size_t cached = 0;         // verdicts in the cache now
};

class SpfChecker {
 public:
  using Callback = std::function<void(SpfVerdict)>;

  explicit SpfChecker(DnsRecordResolver& resolver, SpfCheckerOptions options = {});
  ~SpfChecker();
  SpfChecker(const SpfChecker&) = delete;
  SpfChecker& operator=(const SpfChecker&) = delete;

  // Calls `done` exactly once with the verdict: on the calling thread
  // before check() returns (a cached verdict, or one that needed no more
  // DNS than the resolver had cached) or on the resolver's thread. `done`
  // must not block.
  void check(SpfIdentity identity, Callback done);

  // check(), waiting at most `wait` for the verdict; temperror ("no verdict
  // in time") when it has not come by then.
  SpfVerdict check_and_wait(SpfIdentity identity, std::chrono::milliseconds wait);

  SpfCheckerStats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace greylist
