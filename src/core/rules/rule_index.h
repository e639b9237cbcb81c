// RuleIndex: which rules a request may match, found without trying them
// all. A rule with a "guard" (a clause that must hold and names one exact
// thing: an address or domain of from/rcpt, a client name suffix, a HELO
// or AUTH value, an addr network; or, failing those, a regex with a
// required literal, regex_literal.h) is filed under it; the request's own
// values are looked up, and each text value is searched once for all the
// regex literals of its subject (literal_search.h). Rules without a guard
// are always candidates.
// A candidate may still fail its clauses (the walk checks them all); a
// rule that is not a candidate cannot match. Immutable; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/rules/literal_search.h"
#include "core/rules/rule_model.h"

namespace greylist::rules {

class RuleIndex {
 public:
  explicit RuleIndex(const std::vector<Rule>& rules);

  // The candidates' indices in `rules`, ascending, into `out` (cleared).
  void candidates(const Subjects& subjects, std::vector<std::uint32_t>& out) const;

  struct Guard;  // what a rule is filed under (rule_index.cc)

 private:
  // The rules filed under the regex literals of one text subject.
  struct LiteralTable {
    std::unordered_map<std::string, std::vector<std::uint32_t>> building;  // emptied by finish()
    std::unique_ptr<const LiteralSearch> search;
    std::vector<std::vector<std::uint32_t>> rules;  // by the search's literal id
    void finish();
  };
  static constexpr std::size_t kTextSubjects = 5;  // domain, from, rcpt, helo, auth

  void file(const Rule& rule, std::uint32_t index);
  void file_under(const std::vector<Guard>& guards, std::uint32_t index);
  void look_up(const std::string& key, std::vector<std::uint32_t>& found) const;
  void search_literals(const Subjects& subjects, std::vector<std::uint32_t>& found) const;

  std::vector<std::uint32_t> unguarded_;
  std::unordered_map<std::string, std::vector<std::uint32_t>> guarded_;
  std::array<LiteralTable, kTextSubjects> literals_;  // by Subject minus one
  std::vector<int> v4_prefixes_;  // prefix lengths of addr guards, per family
  std::vector<int> v6_prefixes_;
};

}  // namespace greylist::rules
