#include "core/rules/rule_evaluator.h"

#include <algorithm>

#include "core/rules/dns_query_name.h"
#include "core/rules/list_index.h"
#include "core/rules/rule_index.h"
#include "core/rules/rule_options.h"
#include "core/rules/rule_value.h"

namespace greylist::rules {
namespace {

bool listed(const DnsList& list, const Subjects& subjects, const DnsAnswers& answers) {
  const auto it = answers.find(dnsbl_query_name(*subjects.address, list.zone));
  if (it == answers.end() || it->second.kind != DnsAnswer::Kind::kListed) return false;
  return std::any_of(it->second.addresses.begin(), it->second.addresses.end(),
                     [&](const std::array<std::uint8_t, 4>& a) {
                       return list.match.contains(IpAddress::v4(a));
                     });
}

bool in_list(const ValueList& list, const Subjects& subjects) { return list.index->matches(subjects); }

// The clause's truth before `not`. DNS clauses need `answers`; without
// them (nullptr) they are reported as unknown (nullopt).
std::optional<bool> clause_holds(const RuleSet::Data& data, const Clause& clause,
                                 const Subjects& subjects, const DnsAnswers* answers) {
  if (const auto* value = std::get_if<ValueClause>(&clause.test)) {
    return value_matches(value->subject, value->value, subjects);
  }
  if (const auto* list = std::get_if<ListClause>(&clause.test)) return in_list(*list->list, subjects);
  if (const auto* dns = std::get_if<DnsClause>(&clause.test)) {
    if (!subjects.address) return false;  // nothing to look up: not listed
    if (answers == nullptr) return std::nullopt;
    return listed(data.dns_lists[dns->dns_list], subjects, *answers);
  }
  return true;  // default
}

// true, false, or nullopt when it depends on DNS answers not given.
std::optional<bool> rule_holds(const RuleSet::Data& data, const Rule& rule,
                               const Subjects& subjects, const DnsAnswers* answers) {
  bool unknown = false;
  for (const Clause& clause : rule.clauses) {
    const auto holds = clause_holds(data, clause, subjects, answers);
    if (!holds) {
      unknown = true;
    } else if (*holds == clause.negated) {
      return false;
    }
  }
  if (unknown) return std::nullopt;
  return true;
}

template <typename T>
void take(std::optional<T>& into, const std::optional<T>& from) {
  if (from) into = from;
}

// Options of continue rules, then the deciding rule's own; reply texts of
// continue rules (temporary by construction) only reach temporary actions.
RuleOptions merged(const RuleOptions& carried, const Rule& rule) {
  RuleOptions out = options_for(rule.action, carried);
  if (rule.action == RuleAction::kBlacklist) out = RuleOptions{};
  const RuleOptions& own = rule.options;
  take(out.delay, own.delay);
  take(out.autowhite, own.autowhite);
  take(out.hold, own.hold);
  take(out.code, own.code);
  take(out.ecode, own.ecode);
  take(out.msg, own.msg);
  return out;
}

void add_queries(const RuleSet::Data& data, const Rule& rule, const Subjects& subjects,
                 std::vector<DnsQuery>& queries) {
  for (const Clause& clause : rule.clauses) {
    const auto* dns = std::get_if<DnsClause>(&clause.test);
    if (dns == nullptr) continue;
    const DnsList& list = data.dns_lists[dns->dns_list];
    std::string name = dnsbl_query_name(*subjects.address, list.zone);
    const bool known = std::any_of(queries.begin(), queries.end(),
                                   [&](const DnsQuery& q) { return q.name == name; });
    if (!known) queries.push_back(DnsQuery{std::move(name), list.name});
  }
}

}  // namespace

RuleAssessment walk_rules(const RuleSet::Data& data, const Subjects& subjects,
                          const DnsAnswers* answers, RuleScope scope, bool use_index) {
  const bool naming_auth_only = scope == RuleScope::kNamingAuth;
  RuleAssessment out;
  RuleOptions carried;
  std::vector<RuleRef> continued;
  std::vector<std::uint32_t> candidates;
  if (use_index) {
    data.index->candidates(subjects, candidates);
  } else {
    for (std::uint32_t i = 0; i < data.rules.size(); ++i) candidates.push_back(i);
  }
  for (const std::uint32_t i : candidates) {
    const Rule& rule = data.rules[i];
    if (naming_auth_only && !rule.names_auth) continue;
    const auto holds = rule_holds(data, rule, subjects, answers);
    if (!holds) {  // depends on DNS answers not given: ask for them
      add_queries(data, rule, subjects, out.queries);
      continue;
    }
    if (!*holds) continue;
    if (rule.action != RuleAction::kContinue) {
      out.match = RuleMatch{rule.ref, rule.action, merged(carried, rule), std::move(continued)};
      break;
    }
    carried = merged(carried, rule);
    continued.push_back(rule.ref);
  }
  if (!out.match && !continued.empty()) {
    // Past the last rule after continue rules matched: greylisted as
    // without rules, with their options, decided by the last of them.
    RuleRef last = continued.back();
    out.match = RuleMatch{std::move(last), RuleAction::kGreylist,
                          options_for(RuleAction::kGreylist, carried), std::move(continued)};
  }
  if (!out.queries.empty()) out.match.reset();  // not final before the answers
  return out;
}

}  // namespace greylist::rules
