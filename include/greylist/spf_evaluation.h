// SPF evaluation (RFC 7208): check_host() as a state machine driven by DNS
// answers, with no I/O of its own.
//
// An SpfEvaluation is asked for its next step: either the verdict, or the
// DNS queries whose answers it needs next. The caller looks them up (any
// way it likes: AresRecordResolver asynchronously, a table in tests) and
// hands the answers back with answer(), then asks again. Each step
// evaluates the record chain from the start with the answers known so far
// (a replay: deterministic, so the DNS lookup and void lookup counts come
// out the same every time) and stops at the first answer still missing,
// asking at once for every answer that point needs (the address records of
// all the MX hosts of an `mx`, say). A check takes as many steps as its
// chain is deep; evaluating a record is cheap next to one DNS round trip.
//
// What it implements (RFC 7208 section in brackets):
// - record lookup and selection: TXT only, "v=spf1" records, none / one /
//   several (permerror) [4.4, 4.5]; a domain that is not a valid
//   multi-label name gives none [4.3];
// - the whole record checked before anything is evaluated: a syntax error
//   anywhere is permerror [4.6];
// - mechanisms all, include, a, mx, ptr, ip4, ip6, exists with qualifiers
//   and dual CIDR lengths [5]; ptr as the RFC says: the client's PTR names
//   (the first 10), each validated by its A/AAAA records, match when one is
//   the target or under it; a PTR lookup failure is no match [5.5];
// - modifiers: redirect= [6.1]; exp= parsed (at most once) but never
//   fetched, since the explanation is only a rejection text and
//   greylisting rejects nothing; unknown modifiers parsed and ignored [6];
// - macros in every domain-spec, letters s l o d i p v h, transformers,
//   delimiters, URL escaping, expansions truncated to 253 bytes from the
//   left [7]; an expansion over 8 KiB is permerror;
// - limits: at most 10 terms that query DNS (include, a, mx, ptr, exists,
//   redirect), then permerror; at most 2 void lookups (no records), then
//   permerror; an MX set of more than 10 names is permerror; only the
//   first 10 PTR names are looked at [4.6.4];
// - DNS failures of the record lookup and of a, mx, exists, include are
//   temperror [4.4, 5].
//
// Why our own and not Debian's libspf2 (1.2.10, the last upstream release;
// libspf2-2): its DNS layer is a synchronous lookup function (SPF_dns_server_t
// returning the answer; the real one calls res_query), so every check blocks
// its thread for each of up to ~20 lookups; a policy event loop cannot
// afford that and c-ares cannot drive it without a thread per check. It was
// written for RFC 4408 and predates RFC 7208, upstream is unmaintained, and
// its macro expansion, the code that reads strangers' DNS records, had
// buffer overflows as late as 2021 (CVE-2021-20314, CVE-2021-33912,
// CVE-2021-33913). The evaluator here is small (parsing, macros and
// check_host() in src/spf/), has no I/O, is checked against RFC 7208's cases
// (test/spf_evaluation_test.cc) and is a fuzz target (test/fuzz/spf_fuzzer.cc).
//
// Not thread-safe: one thread drives one evaluation at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "greylist/dns_record_resolver.h"
#include "greylist/ip_address.h"
#include "greylist/spf_result.h"

namespace greylist {

// The arguments of check_host() [4.1] and the values macros use.
struct SpfIdentity {
  IpAddress client;
  std::string domain;  // <domain>: the domain checked
  std::string sender;  // <sender>: "local@domain" (%{s}, %{l}, %{o})
  std::string helo;    // %{h}

  // The MAIL FROM identity of `sender` (untrusted, as the MTA gave it): the
  // domain after its last '@', "postmaster" for an empty local part; an
  // empty sender (a bounce) gives the HELO identity, "postmaster@HELO".
  static SpfIdentity mail_from(const IpAddress& client, std::string_view sender, std::string_view helo);

  friend bool operator==(const SpfIdentity&, const SpfIdentity&) = default;
};

// The mechanism whose match gave a verdict [5]: through include: (and
// redirect=), the one that matched in the record included.
enum class SpfMechanism : std::uint8_t { kNone, kAll, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct SpfMatch {
  SpfMechanism mechanism = SpfMechanism::kNone;  // kNone: no mechanism matched
  // The prefix length the client matched within: ip4/ip6 their CIDR
  // length, a/mx their dual-cidr length for the client's family; -1 for
  // all, ptr, exists.
  int prefix = -1;
  bool ipv6 = false;  // `prefix` is an IPv6 length
  // The term as written ("+all", "ip4:192.0.2.0/24"): DNS text, at most
  // SpfEvaluation::kMaxTerm bytes, to be made printable before it is logged.
  std::string term;
  // The domain whose record holds the term, and the name the term asked
  // about (a, mx, ptr, exists: its domain-spec expanded, or that domain);
  // canonical names, empty for the other mechanisms.
  std::string domain;
  std::string target;
};

struct SpfVerdict {
  SpfResult result = SpfResult::kNone;
  // What decided, for logs: "example.com ip4:192.0.2.0/24", "no SPF
  // record", "more than 10 DNS lookups", "DNS failure: TXT example.com"...
  // It quotes DNS records (strangers' text): at most
  // SpfEvaluation::kMaxReason bytes, to be made printable (log_line.h)
  // before it is logged.
  std::string reason;
  // The smallest TTL of the DNS answers the verdict rests on (kNoTtl when
  // it used none): how long it may be reused for the same domain and client.
  std::chrono::seconds ttl{0};
  // The verdict used %{s}, %{l} or %{h}: it holds for this sender and HELO
  // only, not for every sender of the domain.
  bool identity_macros = false;
  int dns_lookups = 0;  // the terms counted against the limit of 10
  SpfMatch matched;     // what matched (kNone when nothing did)
  // A pass through a, mx or exists, checked again for an address no mail
  // server can have (spf_probe_address(); SpfChecker with probe_passes):
  // that check's result. nullopt: not probed (another result or mechanism,
  // or a checker that does not probe).
  std::optional<SpfResult> probe;
};

// The address a probe checks in place of a client of `family`: one that
// cannot be any domain's mail server, 240.0.0.1 (reserved, RFC 1112 class E)
// or 100::1 (discard-only, RFC 6666).
IpAddress spf_probe_address(IpAddress::Family family);

// Whether `verdict` is a pass a probe should confirm: through a, mx or
// exists, whose matches depend on DNS answers (a wildcard record, a server
// that echoes %{i}) rather than on networks written in the record.
bool spf_pass_needs_probe(const SpfVerdict& verdict);

class SpfEvaluation {
 public:
  static constexpr std::chrono::seconds kNoTtl{86400};
  // Distinct queries one evaluation may make at most (its limits allow far
  // fewer); past it the verdict is permerror.
  static constexpr std::size_t kMaxQueries = 512;
  static constexpr std::size_t kMaxReason = 256;
  static constexpr std::size_t kMaxTerm = 64;

  explicit SpfEvaluation(SpfIdentity identity) : identity_(std::move(identity)) {}

  struct Step {
    std::optional<SpfVerdict> verdict;    // set: the evaluation is over
    std::vector<DnsRecordQuery> queries;  // otherwise: distinct, none answered yet
  };
  Step step();

  // The records for `query`, one that a step asked for (others are kept
  // but never looked at).
  void answer(const DnsRecordQuery& query, DnsRecords records);

  const SpfIdentity& identity() const { return identity_; }

 private:
  SpfIdentity identity_;
  std::unordered_map<std::string, DnsRecords> answers_;
};

}  // namespace greylist
