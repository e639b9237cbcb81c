// RuleIndex: which rules a request may match, found without trying them
// all. A rule with a "guard" (a clause that must hold and names one exact
// thing: an address or domain of from/rcpt, a client name suffix, a HELO
// or AUTH value, an addr network) is filed under it; the request's own
// values are looked up. Rules without a guard are always candidates.
// A candidate may still fail its clauses (the walk checks them all); a
// rule that is not a candidate cannot match. Immutable; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/rules/rule_model.h"

namespace greylist::rules {

class RuleIndex {
 public:
  explicit RuleIndex(const std::vector<Rule>& rules);

  // The candidates' indices in `rules`, ascending, into `out` (cleared).
  void candidates(const Subjects& subjects, std::vector<std::uint32_t>& out) const;

 private:
  void file(const Rule& rule, std::uint32_t index);
  void look_up(const std::string& key, std::vector<std::uint32_t>& found) const;

  std::vector<std::uint32_t> unguarded_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> guarded_;
  std::vector<int> v4_prefixes_;  // prefix lengths of addr guards, per family
  std::vector<int> v6_prefixes_;
};

}  // namespace greylist::rules
