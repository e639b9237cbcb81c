#include "spf/spf_run.h"

#include <algorithm>

#include "spf/spf_names.h"

namespace greylist::spf {
namespace {

std::string query_text(const DnsRecordQuery& query) {
  return std::string(dns_record_type_name(query.type)) + " " + query.name;
}

}  // namespace

std::string answer_key(const DnsRecordQuery& query) { return query_text(query); }

std::optional<SpfVerdict> Run::evaluate() {
  const Outcome outcome = check_host(identity_.domain, 0);
  if (outcome.blocked) return std::nullopt;
  SpfVerdict verdict;
  verdict.result = outcome.result;
  verdict.reason = outcome.reason.substr(0, SpfEvaluation::kMaxReason);
  verdict.ttl = ttl_;
  verdict.identity_macros = identity_macros_;
  verdict.dns_lookups = lookups_;
  verdict.matched = outcome.matched;
  return verdict;
}

const DnsRecords* Run::fetch(DnsRecordQuery query) {
  const auto it = answers_.find(answer_key(query));
  if (it == answers_.end()) {
    if (std::find(needed_.begin(), needed_.end(), query) == needed_.end()) needed_.push_back(std::move(query));
    return nullptr;
  }
  if (it->second.kind != DnsRecords::Kind::kFailed) ttl_ = std::min(ttl_, it->second.ttl);
  return &it->second;
}

Run::Outcome Run::check_host(const std::string& domain, int depth) {
  if (!is_checkable_domain(domain)) return Outcome::unmatched(SpfResult::kNone, "no valid domain");
  const std::string name = *query_name(domain);
  const DnsRecordQuery query{name, DnsRecordType::kTxt};
  const DnsRecords* txt = fetch(query);
  if (txt == nullptr) return Outcome::missing_answer();
  if (txt->kind == DnsRecords::Kind::kFailed) {
    return Outcome::unmatched(SpfResult::kTemperror, "DNS failure: " + query_text(query));
  }
  const std::string* found = nullptr;
  int records = 0;
  for (const std::string& text : txt->texts) {
    if (is_spf_record(text)) {
      found = &text;
      ++records;
    }
  }
  if (records == 0) return Outcome::unmatched(SpfResult::kNone, name + ": no SPF record");
  if (records > 1) return Outcome::unmatched(SpfResult::kPermerror, name + ": several SPF records");
  const auto record = parse_record(*found);
  if (!record.ok()) return Outcome::unmatched(SpfResult::kPermerror, name + ": " + record.status().message());
  const std::string outer = std::exchange(domain_, name);
  Outcome outcome = evaluate_record(record.value(), depth);
  domain_ = outer;
  return outcome;
}

Run::Outcome Run::evaluate_record(const Record& record, int depth) {
  for (const Term& term : record.terms) {
    Match matched = match(term, depth);
    if (matched.kind == Match::Kind::kStop) return matched.stop;
    if (matched.kind == Match::Kind::kYes) {
      return Outcome{false, term.qualifier, domain_ + " " + term.text, matched_by(term, matched)};
    }
  }
  if (record.redirect) return redirect(*record.redirect, depth);
  return Outcome::unmatched(SpfResult::kNeutral, domain_ + ": no mechanism matched");
}

Run::Outcome Run::redirect(const Term& term, int depth) {
  if (auto over = count_lookup(term)) return over->stop;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped.stop;
  Outcome outcome = check_host(*name, depth + 1);
  if (!outcome.blocked && outcome.result == SpfResult::kNone) {
    return Outcome::unmatched(SpfResult::kPermerror, domain_ + " " + term.text + ": no SPF record there");
  }
  return outcome;
}

Run::Match Run::match(const Term& term, int depth) {
  switch (term.mechanism) {
    case Mechanism::kAll: return yes();
    case Mechanism::kIp4:
    case Mechanism::kIp6: return term.network->contains(identity_.client) ? yes() : no();
    case Mechanism::kInclude: return match_include(term, depth);
    case Mechanism::kA: return match_a(term);
    case Mechanism::kMx: return match_mx(term);
    case Mechanism::kPtr: return match_ptr(term);
    case Mechanism::kExists: return match_exists(term);
  }
  return no();
}

SpfMatch Run::matched_by(const Term& term, Match& matched) const {
  if (term.mechanism == Mechanism::kInclude) return std::move(matched.via);
  SpfMatch m;
  m.term = term.text.substr(0, SpfEvaluation::kMaxTerm);
  m.domain = domain_;
  m.target = std::move(matched.via.target);
  m.ipv6 = identity_.client.family() == IpAddress::Family::kV6;
  switch (term.mechanism) {
    case Mechanism::kAll: m.mechanism = SpfMechanism::kAll; break;
    case Mechanism::kIp4: m.mechanism = SpfMechanism::kIp4; m.prefix = term.network->prefix(); break;
    case Mechanism::kIp6: m.mechanism = SpfMechanism::kIp6; m.prefix = term.network->prefix(); break;
    case Mechanism::kA: m.mechanism = SpfMechanism::kA; m.prefix = m.ipv6 ? term.cidr6 : term.cidr4; break;
    case Mechanism::kMx: m.mechanism = SpfMechanism::kMx; m.prefix = m.ipv6 ? term.cidr6 : term.cidr4; break;
    case Mechanism::kPtr: m.mechanism = SpfMechanism::kPtr; break;
    case Mechanism::kExists: m.mechanism = SpfMechanism::kExists; break;
    case Mechanism::kInclude: break;
  }
  return m;
}

Run::Match Run::match_include(const Term& term, int depth) {
  if (auto over = count_lookup(term)) return *over;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped;
  Outcome inner = check_host(*name, depth + 1);
  if (inner.blocked) return stop(std::move(inner));
  switch (inner.result) {
    case SpfResult::kPass: {
      Match matched = yes();
      matched.via = std::move(inner.matched);
      return matched;
    }
    case SpfResult::kFail:
    case SpfResult::kSoftfail:
    case SpfResult::kNeutral: return no();
    case SpfResult::kTemperror: return stop(std::move(inner));
    case SpfResult::kNone: return error(SpfResult::kPermerror, domain_ + " " + term.text + ": no SPF record there");
    case SpfResult::kPermerror: return stop(std::move(inner));
  }
  return no();
}

Run::Match Run::match_a(const Term& term) {
  if (auto over = count_lookup(term)) return *over;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped;
  const DnsRecordQuery query{*name, address_type()};
  const DnsRecords* records = fetch(query);
  if (records == nullptr) return blocked();
  if (records->kind == DnsRecords::Kind::kFailed) return error(SpfResult::kTemperror, "DNS failure: " + query_text(query));
  if (records->kind == DnsRecords::Kind::kNone) return count_void(term).value_or(no());
  return contains_client(*records, term.cidr4, term.cidr6) ? yes_at(*name) : no();
}

Run::Match Run::match_mx(const Term& term) {
  if (auto over = count_lookup(term)) return *over;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped;
  const DnsRecordQuery query{*name, DnsRecordType::kMx};
  const DnsRecords* mx = fetch(query);
  if (mx == nullptr) return blocked();
  if (mx->kind == DnsRecords::Kind::kFailed) return error(SpfResult::kTemperror, "DNS failure: " + query_text(query));
  if (mx->kind == DnsRecords::Kind::kNone) return count_void(term).value_or(no());
  if (mx->texts.size() > kMaxNames) return error(SpfResult::kPermerror, domain_ + " " + term.text + ": more than 10 MX hosts");
  std::vector<const DnsRecords*> hosts;
  for (const std::string& host : mx->texts) {
    const auto host_name = query_name(host);
    if (host_name) hosts.push_back(fetch(DnsRecordQuery{*host_name, address_type()}));
  }
  if (std::find(hosts.begin(), hosts.end(), nullptr) != hosts.end()) return blocked();
  bool failed = false;
  for (const DnsRecords* addresses : hosts) {
    if (addresses->kind == DnsRecords::Kind::kFailed) failed = true;
    if (contains_client(*addresses, term.cidr4, term.cidr6)) return yes_at(*name);
  }
  if (failed) return error(SpfResult::kTemperror, "DNS failure: an MX host of " + *name);
  return no();
}

Run::Match Run::match_ptr(const Term& term) {
  if (auto over = count_lookup(term)) return *over;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped;
  bool void_lookup = false;
  const auto names = validated_names(void_lookup);
  if (!names) return blocked();
  if (void_lookup) {
    if (auto over = count_void(term)) return *over;
  }
  const bool found = std::any_of(names->begin(), names->end(),
                                 [&](const std::string& validated) { return is_within(validated, *name); });
  return found ? yes_at(*name) : no();
}

Run::Match Run::match_exists(const Term& term) {
  if (auto over = count_lookup(term)) return *over;
  Match stopped;
  const auto name = target(term, stopped);
  if (!name) return stopped;
  const DnsRecordQuery query{*name, DnsRecordType::kA};  // A whatever the client's family [5.7]
  const DnsRecords* records = fetch(query);
  if (records == nullptr) return blocked();
  if (records->kind == DnsRecords::Kind::kFailed) return error(SpfResult::kTemperror, "DNS failure: " + query_text(query));
  if (records->kind == DnsRecords::Kind::kNone) return count_void(term).value_or(no());
  return yes_at(*name);
}

std::optional<Run::Match> Run::count_lookup(const Term& term) {
  if (++lookups_ <= kMaxDnsLookups) return std::nullopt;
  return error(SpfResult::kPermerror, "more than 10 DNS lookups (at " + domain_ + " " + term.text + ")");
}

std::optional<Run::Match> Run::count_void(const Term& term) {
  if (++voids_ <= kMaxVoidLookups) return std::nullopt;
  return error(SpfResult::kPermerror, "more than 2 void lookups (at " + domain_ + " " + term.text + ")");
}

std::optional<std::string> Run::target(const Term& term, Match& stopped) {
  if (term.domain.empty()) return domain_;
  const Expansion expansion = expand(term.domain, *this);
  if (expansion.kind == Expansion::Kind::kBlocked) {
    stopped = blocked();
    return std::nullopt;
  }
  auto name = expansion.kind == Expansion::Kind::kOk ? query_name(expansion.text) : std::nullopt;
  if (!name) stopped = error(SpfResult::kPermerror, domain_ + " " + term.text + ": expands to no valid domain");
  return name;
}

DnsRecordType Run::address_type() const {
  return identity_.client.family() == IpAddress::Family::kV4 ? DnsRecordType::kA : DnsRecordType::kAaaa;
}

bool Run::contains_client(const DnsRecords& addresses, int cidr4, int cidr6) const {
  const int prefix = identity_.client.family() == IpAddress::Family::kV4 ? cidr4 : cidr6;
  return std::any_of(addresses.addresses.begin(), addresses.addresses.end(),
                     [&](const IpAddress& address) { return IpNetwork(address, prefix).contains(identity_.client); });
}

std::optional<std::vector<std::string>> Run::validated_names(bool& void_lookup) {
  const DnsRecords* ptr = fetch(DnsRecordQuery{reverse_name(identity_.client), DnsRecordType::kPtr});
  if (ptr == nullptr) return std::nullopt;
  void_lookup = ptr->kind == DnsRecords::Kind::kNone;
  std::vector<std::pair<std::string, const DnsRecords*>> names;
  for (std::size_t i = 0; i < ptr->texts.size() && i < kMaxNames; ++i) {
    if (const auto name = query_name(ptr->texts[i])) {
      names.emplace_back(*name, fetch(DnsRecordQuery{*name, address_type()}));
    }
  }
  std::vector<std::string> validated;
  for (const auto& [name, addresses] : names) {
    if (addresses == nullptr) return std::nullopt;
    // A failed lookup skips the name [5.5].
    const auto& found = addresses->addresses;
    if (std::find(found.begin(), found.end(), identity_.client) != found.end()) validated.push_back(name);
  }
  return validated;
}

std::optional<std::string> Run::value(char letter) {
  const auto at = identity_.sender.rfind('@');
  switch (letter) {
    case 's': identity_macros_ = true; return identity_.sender;
    case 'l': identity_macros_ = true; return identity_.sender.substr(0, at == std::string::npos ? 0 : at);
    case 'o': return at == std::string::npos ? identity_.sender : identity_.sender.substr(at + 1);
    case 'd': return domain_;
    case 'i': return macro_address(identity_.client);
    case 'v': return std::string(identity_.client.family() == IpAddress::Family::kV4 ? "in-addr" : "ip6");
    case 'h': identity_macros_ = true; return identity_.helo;
    case 'p': break;
    default: return std::string();  // c, r, t: explanations only, never expanded here
  }
  bool void_lookup = false;
  const auto names = validated_names(void_lookup);
  if (!names) return std::nullopt;
  // [7.3] the domain itself, else a name under it, else any validated name.
  for (const std::string& name : *names) {
    if (name == domain_) return name;
  }
  for (const std::string& name : *names) {
    if (is_within(name, domain_)) return name;
  }
  return names->empty() ? std::string("unknown") : names->front();
}

}  // namespace greylist::spf
