#include "core/rules/rule_evaluator.h"

#include <algorithm>

#include "core/rules/dns_query_name.h"
#include "core/rules/rule_options.h"
#include "core/rules/rule_value.h"

namespace greylist::rules {
namespace {

bool listed(const DnsList& list, const Subjects& subjects, const DnsAnswers& answers) {
  if (!subjects.address) return false;
  const auto it = answers.find(dnsbl_query_name(*subjects.address, list.zone));
  if (it == answers.end() || it->second.kind != DnsAnswer::Kind::kListed) return false;
  return std::any_of(it->second.addresses.begin(), it->second.addresses.end(),
                     [&](const std::array<std::uint8_t, 4>& a) {
                       return list.match.contains(IpAddress::v4(a));
                     });
}

bool in_list(const ValueList& list, const Subjects& subjects) {
  return std::any_of(list.values.begin(), list.values.end(), [&](const Value& value) {
    return value_matches(list.subject, value, subjects);
  });
}

// The clause's truth before `not`. DNS clauses need `answers`; without
// them (nullptr) they are reported as unknown (nullopt).
std::optional<bool> clause_holds(const RuleSet::Data& data, const Clause& clause,
                                 const Subjects& subjects, const DnsAnswers* answers) {
  if (const auto* value = std::get_if<ValueClause>(&clause.test)) {
    return value_matches(value->subject, value->value, subjects);
  }
  if (const auto* list = std::get_if<ListClause>(&clause.test)) return in_list(*list->list, subjects);
  if (const auto* dns = std::get_if<DnsClause>(&clause.test)) {
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

}  // namespace

std::vector<DnsQuery> needed_queries(const RuleSet::Data& data, const Subjects& subjects) {
  std::vector<DnsQuery> queries;
  if (!subjects.address) return queries;
  for (const Rule& rule : data.rules) {
    const auto holds = rule_holds(data, rule, subjects, nullptr);
    if (holds.has_value()) {
      if (*holds && rule.action != RuleAction::kContinue) break;  // decided without DNS
      continue;
    }
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
  return queries;
}

std::optional<RuleMatch> first_match(const RuleSet::Data& data, const Subjects& subjects,
                                     const DnsAnswers& answers) {
  RuleOptions carried;
  std::vector<RuleRef> continued;
  for (const Rule& rule : data.rules) {
    if (rule_holds(data, rule, subjects, &answers) != true) continue;
    if (rule.action != RuleAction::kContinue) {
      return RuleMatch{rule.ref, rule.action, merged(carried, rule), std::move(continued)};
    }
    carried = merged(carried, rule);
    continued.push_back(rule.ref);
  }
  if (continued.empty()) return std::nullopt;
  // Past the last rule after continue rules matched: greylisted as without
  // rules, with their options, decided by the last of them.
  RuleRef last = continued.back();
  return RuleMatch{std::move(last), RuleAction::kGreylist,
                   options_for(RuleAction::kGreylist, carried), std::move(continued)};
}

}  // namespace greylist::rules
