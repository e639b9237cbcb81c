#include "core/rules/rule_value.h"

#include <array>
#include <cctype>

#include "core/rules/regex_literal.h"
#include "greylist/log_line.h"

namespace greylist::rules {
namespace {

struct SubjectName {
  Subject subject;
  const char* name;
};
constexpr std::array<SubjectName, 6> kSubjects{{{Subject::kAddr, "addr"},
                                                {Subject::kDomain, "domain"},
                                                {Subject::kFrom, "from"},
                                                {Subject::kRcpt, "rcpt"},
                                                {Subject::kHelo, "helo"},
                                                {Subject::kAuth, "auth"}}};

// ASCII only: every field of every request goes through it.
std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Status invalid(const std::string& what, const Token& token, const std::string& why = "") {
  return Status::InvalidArgument(what + " " + describe(token) + (why.empty() ? "" : ": " + why));
}

Result<Value> parse_regex(const Token& token) {
  auto regex = whitelist::compile_regex(token.text);
  if (!regex.ok()) return Status::InvalidArgument(regex.status().message());
  return Value(RuleRegex{std::move(regex).value(), required_literal(token.text)});
}

bool valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253 || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (const char c : domain) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

Result<Value> parse_address_value(const Token& token) {
  if (token.text.size() > 1 && token.text.front() == '@') {
    const std::string_view domain = std::string_view(token.text).substr(1);
    if (!valid_domain(domain)) return invalid("not a domain:", token);
    return Value(AtDomain{lowercase(domain)});
  }
  auto rule = whitelist::parse_recipient_rule(token.text);
  if (!rule.ok() || std::holds_alternative<whitelist::Regex>(rule.value())) {
    return invalid("not an address, @domain or domain:", token,
                   rule.ok() ? "write a regex between slashes" : rule.status().message());
  }
  return Value(std::move(rule).value());
}

Result<Value> parse_plain(Subject subject, const Token& token) {
  if (token.text.empty()) return invalid("empty value", token);
  switch (subject) {
    case Subject::kAddr:
      if (auto network = IpNetwork::parse(token.text)) return Value(*network);
      return invalid("not an address or network:", token);
    case Subject::kDomain: {
      const bool under_only = token.text.front() == '.';
      const std::string_view name = std::string_view(token.text).substr(under_only ? 1 : 0);
      if (!valid_domain(name) || IpAddress::parse(name)) return invalid("not a domain name:", token);
      return Value(whitelist::NameSuffix{lowercase(name), under_only});
    }
    case Subject::kFrom:
    case Subject::kRcpt: return parse_address_value(token);
    case Subject::kHelo:
    case Subject::kAuth: return Value(ExactText{lowercase(token.text)});
  }
  return invalid("unexpected value", token);
}

}  // namespace

const std::string& field(Subject subject, const Subjects& s) {
  switch (subject) {
    case Subject::kDomain: return s.client_name;
    case Subject::kFrom: return s.sender;
    case Subject::kRcpt: return s.recipient;
    case Subject::kHelo: return s.helo;
    case Subject::kAuth: break;
    case Subject::kAddr: break;
  }
  return s.auth;
}

const char* subject_name(Subject subject) {
  for (const auto& entry : kSubjects) {
    if (entry.subject == subject) return entry.name;
  }
  return "?";
}

std::optional<Subject> subject_from_name(std::string_view word) {
  for (const auto& entry : kSubjects) {
    if (word == entry.name) return entry.subject;
  }
  return std::nullopt;
}

Subjects subjects_of(const Request& request) {
  std::string name = lowercase(request.client_name);
  if (name == "unknown") name.clear();
  return Subjects{IpAddress::parse(request.client_address), std::move(name), lowercase(request.sender),
                  lowercase(request.recipient), lowercase(request.helo_name),
                  lowercase(request.sasl_username)};
}

bool name_at_or_under(std::string_view name, const whitelist::NameSuffix& suffix) {
  const std::string_view s = suffix.suffix;
  if (name.size() == s.size()) return !suffix.subdomains_only && name == s;
  return name.size() > s.size() && name[name.size() - s.size() - 1] == '.' &&
         name.substr(name.size() - s.size()) == s;
}

Result<Value> parse_value(Subject subject, const Token& token) {
  if (token.kind == Token::Kind::kRegex) {
    if (subject == Subject::kAddr) return invalid("addr takes no regular expression:", token);
    return parse_regex(token);
  }
  if (token.kind != Token::Kind::kWord && token.kind != Token::Kind::kString) {
    return invalid("expected a value, found", token);
  }
  return parse_plain(subject, token);
}

bool value_matches(Subject subject, const Value& value, const Subjects& subjects) {
  if (subject == Subject::kAddr) {
    const auto* network = std::get_if<IpNetwork>(&value);
    return network != nullptr && subjects.address && network->contains(*subjects.address);
  }
  const std::string& text = field(subject, subjects);
  // No verified client name, no SMTP AUTH: no value of those matches.
  if (text.empty() && (subject == Subject::kDomain || subject == Subject::kAuth)) return false;
  if (const auto* regex = std::get_if<RuleRegex>(&value)) {
    return may_match(text, regex->required) && whitelist::regex_search(regex->regex.pattern, text);
  }
  if (const auto* suffix = std::get_if<whitelist::NameSuffix>(&value)) {
    return name_at_or_under(text, *suffix);
  }
  if (const auto* exact = std::get_if<ExactText>(&value)) return text == exact->text;
  if (const auto* domain = std::get_if<AtDomain>(&value)) {
    const auto at = text.rfind('@');
    return at != std::string::npos && std::string_view(text).substr(at + 1) == domain->domain;
  }
  if (const auto* rule = std::get_if<whitelist::RecipientRule>(&value)) {
    return whitelist::matches_recipient(*rule, text);
  }
  return false;
}

}  // namespace greylist::rules
