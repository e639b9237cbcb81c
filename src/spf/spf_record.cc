#include "spf/spf_record.h"

#include <cctype>

namespace greylist::spf {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool all_of(std::string_view text, int (*predicate)(int)) {
  for (const char c : text) {
    if (predicate(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// "name=" of a modifier: ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
bool is_modifier(std::string_view term, std::size_t& equals) {
  equals = term.find('=');
  if (equals == std::string_view::npos || equals == 0) return false;
  if (std::isalpha(static_cast<unsigned char>(term[0])) == 0) return false;
  for (std::size_t i = 1; i < equals; ++i) {
    const char c = term[i];
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// A CIDR length: "0" or digits without a leading zero, at most `max`.
std::optional<int> cidr_length(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3 || !all_of(digits, std::isdigit)) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  const int value = std::stoi(std::string(digits));
  if (value > max) return std::nullopt;
  return value;
}

Status bad(const Term& term, std::string_view why) {
  return Status::InvalidArgument("bad term '" + term.text + "': " + std::string(why));
}

// ":domain-spec" into term.domain; `required` when the mechanism needs one.
Status parse_target(std::string_view rest, bool required, Term& term) {
  if (rest.empty()) return required ? bad(term, "no domain") : Status::Ok();
  if (rest[0] != ':') return bad(term, "unexpected text after the mechanism");
  auto domain = parse_domain_spec(rest.substr(1));
  if (!domain.ok()) return bad(term, domain.status().message());
  term.domain = std::move(domain).value();
  return Status::Ok();
}

// a and mx: [":" domain-spec] [ "/" ip4-cidr ] [ "//" ip6-cidr ].
Status parse_host_mechanism(std::string_view rest, Term& term) {
  for (int round = 0; round < 2; ++round) {
    const auto slash = rest.rfind('/');
    if (slash == std::string_view::npos) break;
    const std::string_view digits = rest.substr(slash + 1);
    if (digits.empty() || !all_of(digits, std::isdigit)) break;
    const bool v6 = slash > 0 && rest[slash - 1] == '/';
    if (round == 1 && v6) return bad(term, "two IPv6 prefix lengths");
    const auto length = cidr_length(digits, v6 ? 128 : 32);
    if (!length) return bad(term, "bad prefix length");
    (v6 ? term.cidr6 : term.cidr4) = *length;
    rest = rest.substr(0, v6 ? slash - 1 : slash);
    if (!v6) break;  // the IPv4 length comes before the IPv6 one
  }
  return parse_target(rest, false, term);
}

Status parse_network(std::string_view rest, bool v6, Term& term) {
  if (rest.size() < 2 || rest[0] != ':') return bad(term, "no address");
  rest.remove_prefix(1);
  int prefix = v6 ? 128 : 32;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    const auto length = cidr_length(rest.substr(slash + 1), prefix);
    if (!length) return bad(term, "bad prefix length");
    prefix = *length;
    rest = rest.substr(0, slash);
  }
  for (const char c : rest) {
    const bool allowed = v6 ? (std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.')
                            : (std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '.');
    if (!allowed) return bad(term, "bad address");
  }
  const auto address = IpAddress::parse(rest);
  const bool has_colon = rest.find(':') != std::string_view::npos;
  if (!address || has_colon != v6) return bad(term, "bad address");
  // An IPv4-mapped IPv6 network is the IPv4 network it maps.
  if (v6 && address->family() == IpAddress::Family::kV4) prefix = prefix > 96 ? prefix - 96 : 0;
  term.network = IpNetwork(*address, prefix);
  return Status::Ok();
}

struct MechanismName {
  std::string_view name;
  Mechanism mechanism;
};
constexpr MechanismName kMechanisms[] = {
    {"all", Mechanism::kAll},   {"include", Mechanism::kInclude}, {"a", Mechanism::kA},
    {"mx", Mechanism::kMx},     {"ptr", Mechanism::kPtr},         {"ip4", Mechanism::kIp4},
    {"ip6", Mechanism::kIp6},   {"exists", Mechanism::kExists},
};

Result<Term> parse_directive(std::string_view text) {
  Term term;
  term.text = std::string(text);
  if (!text.empty() && std::string_view("+-~?").find(text[0]) != std::string_view::npos) {
    term.qualifier = text[0] == '+' ? SpfResult::kPass
                     : text[0] == '-' ? SpfResult::kFail
                     : text[0] == '~' ? SpfResult::kSoftfail
                                      : SpfResult::kNeutral;
    text.remove_prefix(1);
  }
  const auto end = text.find_first_of(":/");
  const std::string name = lower(text.substr(0, end));
  const std::string_view rest = end == std::string_view::npos ? std::string_view() : text.substr(end);
  const MechanismName* found = nullptr;
  for (const auto& known : kMechanisms) {
    if (known.name == name) found = &known;
  }
  if (found == nullptr) return bad(term, "unknown mechanism");
  term.mechanism = found->mechanism;
  Status status;
  switch (term.mechanism) {
    case Mechanism::kAll: status = rest.empty() ? Status::Ok() : bad(term, "all takes nothing"); break;
    case Mechanism::kInclude:
    case Mechanism::kExists: status = parse_target(rest, true, term); break;
    case Mechanism::kA:
    case Mechanism::kMx: status = parse_host_mechanism(rest, term); break;
    case Mechanism::kPtr: status = parse_target(rest, false, term); break;
    case Mechanism::kIp4: status = parse_network(rest, false, term); break;
    case Mechanism::kIp6: status = parse_network(rest, true, term); break;
  }
  if (!status.ok()) return status;
  return term;
}

Status parse_modifier(std::string_view text, std::size_t equals, Record& record) {
  const std::string name = lower(text.substr(0, equals));
  const std::string_view value = text.substr(equals + 1);
  if (name != "redirect" && name != "exp") {
    // Unknown modifiers are ignored (§6), once their value parses.
    auto parsed = parse_macro_string(value, true);
    if (!parsed.ok()) return Status::InvalidArgument("bad modifier '" + std::string(text) + "': " + parsed.status().message());
    return Status::Ok();
  }
  auto domain = parse_domain_spec(value);
  if (!domain.ok()) return Status::InvalidArgument("bad " + name + "=: " + domain.status().message());
  if (name == "exp") {
    if (record.has_explanation) return Status::InvalidArgument("exp= given twice");
    record.has_explanation = true;
    return Status::Ok();
  }
  if (record.redirect) return Status::InvalidArgument("redirect= given twice");
  Term redirect;
  redirect.mechanism = Mechanism::kInclude;
  redirect.text = std::string(text);
  redirect.domain = std::move(domain).value();
  record.redirect = std::move(redirect);
  return Status::Ok();
}

}  // namespace

bool is_spf_record(std::string_view text) {
  return text.size() >= 6 && lower(text.substr(0, 6)) == "v=spf1" && (text.size() == 6 || text[6] == ' ');
}

Result<Record> parse_record(std::string_view text) {
  if (!is_spf_record(text)) return Status::InvalidArgument("not an SPF record");
  Record record;
  std::string_view rest = text.substr(6);
  while (!rest.empty()) {
    const auto space = rest.find(' ');
    const std::string_view term = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (term.empty()) continue;
    std::size_t equals = 0;
    if (is_modifier(term, equals)) {
      if (Status status = parse_modifier(term, equals, record); !status.ok()) return status;
      continue;
    }
    auto directive = parse_directive(term);
    if (!directive.ok()) return directive.status();
    record.terms.push_back(std::move(directive).value());
  }
  return record;
}

}  // namespace greylist::spf
