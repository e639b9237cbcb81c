#include "core/rules/rule_index.h"

#include <algorithm>
#include <optional>

#include "core/rules/rule_value.h"

namespace greylist::rules {

// A clause value a rule can be filed under: a key of guarded_, or (literal)
// a regex's required literal, searched for in `subject`'s field.
struct RuleIndex::Guard {
  std::string key;
  const IpNetwork* network = nullptr;  // an addr guard's network
  bool literal = false;
  Subject subject = Subject::kAddr;
};

namespace {

// Keys: a subject letter, a separator, then the lower-case value, built
// in `k` (a buffer reused across the look-ups of a request).
void key_into(std::string& k, Subject subject, char separator, std::string_view value) {
  k.clear();
  k += subject_name(subject)[0];
  k += separator;
  k += value;
}

std::string key(Subject subject, char separator, std::string_view value) {
  std::string k;
  key_into(k, subject, separator, value);
  return k;
}

// A network's key holds its family, prefix and masked bytes as they are:
// no text formatting per request.
void network_key_into(std::string& k, const IpNetwork& network) {
  const IpAddress& base = network.base();
  const bool v4 = base.family() == IpAddress::Family::kV4;
  k.assign("a/");
  k += v4 ? '4' : '6';
  k += static_cast<char>(network.prefix());
  k.append(reinterpret_cast<const char*>(base.bytes().data()), v4 ? 4 : 16);
}

std::string network_key(const IpNetwork& network) {
  std::string k;
  network_key_into(k, network);
  return k;
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

std::optional<RuleIndex::Guard> guard_of(Subject subject, const Value& value) {
  if (auto k = guard_key(subject, value)) {
    return RuleIndex::Guard{std::move(*k), std::get_if<IpNetwork>(&value), false, subject};
  }
  const auto* regex = std::get_if<RuleRegex>(&value);
  if (regex == nullptr || regex->required.empty()) return std::nullopt;
  return RuleIndex::Guard{regex->required, nullptr, true, subject};
}

// The guards a clause files its rule under: one for a value, one per value
// for a list; none when some value cannot be a guard.
std::vector<RuleIndex::Guard> clause_guards(const Clause& clause) {
  std::vector<RuleIndex::Guard> guards;
  if (clause.negated) return guards;
  if (const auto* test = std::get_if<ValueClause>(&clause.test)) {
    if (auto g = guard_of(test->subject, test->value)) guards.push_back(std::move(*g));
    return guards;
  }
  if (const auto* list = std::get_if<ListClause>(&clause.test)) {
    for (const Value& value : list->list->values) {
      auto g = guard_of(list->list->subject, value);
      if (!g) return {};
      guards.push_back(std::move(*g));
    }
  }
  return guards;
}

bool any_literal(const std::vector<RuleIndex::Guard>& guards) {
  return std::any_of(guards.begin(), guards.end(), [](const RuleIndex::Guard& g) { return g.literal; });
}

void add(std::vector<std::uint32_t>& rules, std::uint32_t index) {
  if (rules.empty() || rules.back() != index) rules.push_back(index);
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
  for (LiteralTable& table : literals_) table.finish();
}

void RuleIndex::LiteralTable::finish() {
  if (building.empty()) return;
  std::vector<std::string> keys;
  for (auto& [literal, filed] : building) {
    keys.push_back(literal);
    rules.push_back(std::move(filed));
  }
  building.clear();
  search = std::make_unique<const LiteralSearch>(keys);
}

// Under the first clause with exact guards only (hash look-ups, usually
// the most selective); else under the first with regex literals.
void RuleIndex::file(const Rule& rule, std::uint32_t index) {
  std::vector<Guard> with_literals;
  for (const Clause& clause : rule.clauses) {
    auto guards = clause_guards(clause);
    if (guards.empty()) continue;
    if (!any_literal(guards)) return file_under(guards, index);
    if (with_literals.empty()) with_literals = std::move(guards);
  }
  if (!with_literals.empty()) return file_under(with_literals, index);
  unguarded_.push_back(index);
}

void RuleIndex::file_under(const std::vector<Guard>& guards, std::uint32_t index) {
  for (const Guard& guard : guards) {
    if (guard.literal) {
      add(literals_[static_cast<std::size_t>(guard.subject) - 1].building[guard.key], index);
      continue;
    }
    if (guard.network != nullptr) {
      const bool v4 = guard.network->base().family() == IpAddress::Family::kV4;
      (v4 ? v4_prefixes_ : v6_prefixes_).push_back(guard.network->prefix());
    }
    add(guarded_[guard.key], index);
  }
}

void RuleIndex::look_up(const std::string& k, std::vector<std::uint32_t>& found) const {
  const auto it = guarded_.find(k);
  if (it != guarded_.end()) found.insert(found.end(), it->second.begin(), it->second.end());
}

void RuleIndex::search_literals(const Subjects& s, std::vector<std::uint32_t>& found) const {
  for (std::size_t i = 0; i < kTextSubjects; ++i) {
    const LiteralTable& table = literals_[i];
    if (!table.search) continue;
    table.search->each_found(field(static_cast<Subject>(i + 1), s), [&](std::uint32_t id) {
      found.insert(found.end(), table.rules[id].begin(), table.rules[id].end());
    });
  }
}

void RuleIndex::candidates(const Subjects& s, std::vector<std::uint32_t>& out) const {
  std::vector<std::uint32_t> found;
  if (!guarded_.empty()) {
    std::string k;  // one buffer for every key of the request
    k.reserve(64);
    if (s.address) {
      const bool v4 = s.address->family() == IpAddress::Family::kV4;
      for (const int prefix : v4 ? v4_prefixes_ : v6_prefixes_) {
        network_key_into(k, IpNetwork(*s.address, prefix));
        look_up(k, found);
      }
    }
    auto text = [&](Subject subject, char separator, std::string_view value) {
      key_into(k, subject, separator, value);
      look_up(k, found);
    };
    each_suffix(s.client_name, [&](std::string_view n) { text(Subject::kDomain, '.', n); });
    each_suffix(domain_of(s.sender), [&](std::string_view d) { text(Subject::kFrom, '@', d); });
    each_suffix(domain_of(s.recipient), [&](std::string_view d) { text(Subject::kRcpt, '@', d); });
    text(Subject::kHelo, '=', s.helo);
    if (!s.auth.empty()) text(Subject::kAuth, '=', s.auth);
  }
  search_literals(s, found);
  std::sort(found.begin(), found.end());
  out.clear();
  out.reserve(found.size() + unguarded_.size());
  std::merge(found.begin(), found.end(), unguarded_.begin(), unguarded_.end(), std::back_inserter(out));
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace greylist::rules
