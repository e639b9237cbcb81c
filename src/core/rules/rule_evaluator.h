// Walking the parsed rules for one request (RuleSet::dns_queries and
// RuleSet::evaluate are thin wrappers). Pure functions of their arguments.
#pragma once

#include <optional>
#include <vector>

#include "core/rules/rule_model.h"

namespace greylist::rules {

std::vector<DnsQuery> needed_queries(const RuleSet::Data& data, const Subjects& subjects);

std::optional<RuleMatch> first_match(const RuleSet::Data& data, const Subjects& subjects,
                                     const DnsAnswers& answers);

}  // namespace greylist::rules
