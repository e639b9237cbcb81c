// One replay of an SPF evaluation (greylist/spf_evaluation.h): check_host()
// over the DNS answers known so far, stopping at the first one missing.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "greylist/spf_evaluation.h"
#include "spf/spf_macro.h"
#include "spf/spf_record.h"

namespace greylist::spf {

using Answers = std::unordered_map<std::string, DnsRecords>;

// The key of a query's answer in Answers: "TYPE name".
std::string answer_key(const DnsRecordQuery& query);

constexpr int kMaxDnsLookups = 10;
constexpr int kMaxVoidLookups = 2;
constexpr std::size_t kMaxNames = 10;  // MX hosts per mx, PTR names per ptr

class Run final : public MacroValues {
 public:
  Run(const SpfIdentity& identity, const Answers& answers) : identity_(identity), answers_(answers) {}

  // The verdict; nullopt when an answer is missing (needed() lists every
  // query the point where it stopped waits for).
  std::optional<SpfVerdict> evaluate();
  const std::vector<DnsRecordQuery>& needed() const { return needed_; }

  std::optional<std::string> value(char letter) override;

 private:
  // The end of a check_host(), or of a term that stops the evaluation.
  struct Outcome {
    bool blocked = false;  // an answer is missing
    SpfResult result = SpfResult::kNone;
    std::string reason;
    SpfMatch matched;  // the mechanism that gave the result

    // A result no mechanism gave (an error, no record, no term matched):
    // `matched` stays empty.
    static Outcome unmatched(SpfResult result, std::string reason) {
      return Outcome{false, result, std::move(reason), {}};
    }
    // An answer is missing: the evaluation waits for it.
    static Outcome missing_answer() { return Outcome{true, SpfResult::kNone, {}, {}}; }
  };
  struct Match {
    enum class Kind { kNo, kYes, kStop };
    Kind kind = Kind::kNo;
    Outcome stop;  // kStop
    // kYes of an include: what matched in the record included; of a, mx,
    // ptr, exists: the target only.
    SpfMatch via;
  };
  static Match no() { return Match{}; }
  static Match yes() { return Match{Match::Kind::kYes, {}, {}}; }
  // A match of a term that asked about `target` (a, mx, ptr, exists).
  static Match yes_at(const std::string& target) {
    Match matched = yes();
    matched.via.target = target;
    return matched;
  }
  static Match stop(Outcome outcome) { return Match{Match::Kind::kStop, std::move(outcome), {}}; }
  static Match blocked() { return stop(Outcome::missing_answer()); }
  static Match error(SpfResult result, std::string reason) {
    return stop(Outcome::unmatched(result, std::move(reason)));
  }

  Outcome check_host(const std::string& domain, int depth);
  Outcome evaluate_record(const Record& record, int depth);
  Outcome redirect(const Term& term, int depth);
  Match match(const Term& term, int depth);
  // What `term` (which matched) reports as SpfVerdict::matched.
  SpfMatch matched_by(const Term& term, Match& matched) const;
  Match match_include(const Term& term, int depth);
  Match match_a(const Term& term);
  Match match_mx(const Term& term);
  Match match_ptr(const Term& term);
  Match match_exists(const Term& term);

  // The answer to `query`, nullptr while missing (then added to needed_).
  const DnsRecords* fetch(DnsRecordQuery query);
  // Counts a DNS-querying term; the error once past the limit.
  std::optional<Match> count_lookup(const Term& term);
  // Counts a void lookup; the error once past the limit.
  std::optional<Match> count_void(const Term& term);
  // The name a term queries: its domain-spec expanded, or the current
  // domain when it has none. nullopt with `stop` set when it cannot be had.
  std::optional<std::string> target(const Term& term, Match& stop);
  DnsRecordType address_type() const;
  // Whether `addresses` hold the client within the term's CIDR lengths.
  bool contains_client(const DnsRecords& addresses, int cidr4, int cidr6) const;
  // The client's validated PTR names [5.5]; nullopt while answers are missing.
  std::optional<std::vector<std::string>> validated_names(bool& void_lookup);

  const SpfIdentity& identity_;
  const Answers& answers_;
  std::vector<DnsRecordQuery> needed_;
  std::string domain_;  // the <domain> of the check_host() running
  int lookups_ = 0;
  int voids_ = 0;
  std::chrono::seconds ttl_ = SpfEvaluation::kNoTtl;
  bool identity_macros_ = false;
};

}  // namespace greylist::spf
