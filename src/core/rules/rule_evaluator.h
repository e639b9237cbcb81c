// Walking the parsed rules for one request (RuleSet::dns_queries and
// RuleSet::evaluate are thin wrappers). Pure functions of their arguments.
#pragma once

#include <optional>
#include <vector>

#include "core/rules/rule_model.h"

namespace greylist::rules {

// The rules of `scope` in order, first match wins (continue rules pass
// their options on); a rule outside the scope is skipped as if absent. With
// `answers`, DNS clauses read them and the result has no queries. Without
// (nullptr), a rule that depends on DNS adds its lookups to `queries` and
// the walk goes on past it; `match` is then set only when no lookup was
// needed. `use_index` false tries every rule (the RuleIndex must never
// change the outcome: tests and the fuzzer compare).
RuleAssessment walk_rules(const RuleSet::Data& data, const Subjects& subjects,
                          const DnsAnswers* answers, RuleScope scope = RuleScope::kAll,
                          bool use_index = true);

}  // namespace greylist::rules
