#include "core/rules/rule_index.h"

#include <algorithm>
#include <optional>

namespace greylist::rules {
namespace {

// Keys: a subject letter, a separator, then the lower-case value.
std::string key(Subject subject, char separator, std::string_view value) {
  std::string k;
  k.reserve(value.size() + 2);
  k += subject_name(subject)[0];
  k += separator;
  k += value;
  return k;
}

std::string network_key(const IpNetwork& network) {
  return key(Subject::kAddr, '/', network.to_string());
}

// The key a value is filed under, if it can be a guard. Lookups of a
// request's values (candidates()) produce every key such a value could
// match under: from/rcpt by each parent domain of the address's domain,
// domain by each parent of the client name.
std::optional<std::string> guard_key(Subject subject, const Value& value) {
  if (const auto* network = std::get_if<IpNetwork>(&value)) return network_key(*network);
  if (const auto* suffix = std::get_if<whitelist::NameSuffix>(&value)) {
    return key(subject, '.', suffix->suffix);
  }
  if (const auto* exact = std::get_if<ExactText>(&value)) return key(subject, '=', exact->text);
  if (const auto* at = std::get_if<AtDomain>(&value)) return key(subject, '@', at->domain);
  if (const auto* rule = std::get_if<whitelist::RecipientRule>(&value)) {
    if (const auto* address = std::get_if<whitelist::Address>(rule)) {
      return key(subject, '@', address->domain);
    }
    if (const auto* domain = std::get_if<whitelist::Domain>(rule)) return key(subject, '@', domain->domain);
  }
  return std::nullopt;  // regexes, user@
}

// `name` and each of its parent names.
template <typename Fn>
void each_suffix(std::string_view name, Fn fn) {
  while (!name.empty()) {
    fn(name);
    const auto dot = name.find('.');
    if (dot == std::string_view::npos) return;
    name.remove_prefix(dot + 1);
  }
}

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

}  // namespace

RuleIndex::RuleIndex(const std::vector<Rule>& rules) {
  for (std::uint32_t i = 0; i < rules.size(); ++i) file(rules[i], i);
  for (auto* prefixes : {&v4_prefixes_, &v6_prefixes_}) {
    std::sort(prefixes->begin(), prefixes->end());
    prefixes->erase(std::unique(prefixes->begin(), prefixes->end()), prefixes->end());
  }
}

namespace {

// The keys a clause guards its rule under: one for a value, one per value
// for a list; none when some value cannot be a guard.
std::vector<std::pair<std::string, const Value*>> clause_guards(const Clause& clause) {
  std::vector<std::pair<std::string, const Value*>> keys;
  if (clause.negated) return keys;
  if (const auto* test = std::get_if<ValueClause>(&clause.test)) {
    if (auto k = guard_key(test->subject, test->value)) keys.emplace_back(std::move(*k), &test->value);
    return keys;
  }
  if (const auto* list = std::get_if<ListClause>(&clause.test)) {
    for (const Value& value : list->list->values) {
      auto k = guard_key(list->list->subject, value);
      if (!k) return {};
      keys.emplace_back(std::move(*k), &value);
    }
  }
  return keys;
}

}  // namespace

void RuleIndex::file(const Rule& rule, std::uint32_t index) {
  for (const Clause& clause : rule.clauses) {
    const auto keys = clause_guards(clause);
    if (keys.empty()) continue;
    for (const auto& [k, value] : keys) {
      if (const auto* network = std::get_if<IpNetwork>(value)) {
        const bool v4 = network->base().family() == IpAddress::Family::kV4;
        (v4 ? v4_prefixes_ : v6_prefixes_).push_back(network->prefix());
      }
      auto& rules = guarded_[k];
      if (rules.empty() || rules.back() != index) rules.push_back(index);
    }
    return;
  }
  unguarded_.push_back(index);
}

void RuleIndex::look_up(const std::string& k, std::vector<std::uint32_t>& found) const {
  const auto it = guarded_.find(k);
  if (it != guarded_.end()) found.insert(found.end(), it->second.begin(), it->second.end());
}

void RuleIndex::candidates(const Subjects& s, std::vector<std::uint32_t>& out) const {
  std::vector<std::uint32_t> found;
  if (!guarded_.empty()) {
    if (s.address) {
      const bool v4 = s.address->family() == IpAddress::Family::kV4;
      for (const int prefix : v4 ? v4_prefixes_ : v6_prefixes_) {
        look_up(network_key(IpNetwork(*s.address, prefix)), found);
      }
    }
    each_suffix(s.client_name, [&](std::string_view n) { look_up(key(Subject::kDomain, '.', n), found); });
    each_suffix(domain_of(s.sender), [&](std::string_view d) { look_up(key(Subject::kFrom, '@', d), found); });
    each_suffix(domain_of(s.recipient), [&](std::string_view d) { look_up(key(Subject::kRcpt, '@', d), found); });
    look_up(key(Subject::kHelo, '=', s.helo), found);
    if (!s.auth.empty()) look_up(key(Subject::kAuth, '=', s.auth), found);
  }
  std::sort(found.begin(), found.end());
  out.clear();
  out.reserve(found.size() + unguarded_.size());
  std::merge(found.begin(), found.end(), unguarded_.begin(), unguarded_.end(), std::back_inserter(out));
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace greylist::rules
