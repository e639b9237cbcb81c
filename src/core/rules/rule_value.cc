#include "core/rules/rule_value.h"

#include <array>
#include <cctype>

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

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status invalid(const std::string& what, const Token& token, const std::string& why = "") {
  return Status::InvalidArgument(what + " " + describe(token) + (why.empty() ? "" : ": " + why));
}

// Domain regexes are ClientRules, so that "unknown" never matches them.
Result<Value> parse_regex(Subject subject, const Token& token) {
  auto regex = whitelist::compile_regex(token.text);
  if (!regex.ok()) return Status::InvalidArgument(regex.status().message());
  if (subject == Subject::kDomain) return Value(whitelist::ClientRule(std::move(regex).value()));
  return Value(std::move(regex).value());
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
  if (!rule.ok()) return invalid("not an address, @domain or domain:", token, rule.status().message());
  return Value(std::move(rule).value());
}

Result<Value> parse_plain(Subject subject, const Token& token) {
  if (token.text.empty()) return invalid("empty value", token);
  switch (subject) {
    case Subject::kAddr:
      if (auto network = IpNetwork::parse(token.text)) return Value(*network);
      return invalid("not an address or network:", token);
    case Subject::kDomain: {
      auto rule = whitelist::parse_client_rule(token.text);
      if (!rule.ok() || std::holds_alternative<whitelist::Network>(rule.value()) ||
          !valid_domain(token.text.front() == '.' ? token.text.substr(1) : token.text)) {
        return invalid("not a domain name:", token);
      }
      return Value(std::move(rule).value());
    }
    case Subject::kFrom:
    case Subject::kRcpt: return parse_address_value(token);
    case Subject::kHelo:
    case Subject::kAuth: return Value(ExactText{lowercase(token.text)});
  }
  return invalid("unexpected value", token);
}

std::string_view field(Subject subject, const Subjects& s) {
  switch (subject) {
    case Subject::kDomain: return s.client_name;
    case Subject::kFrom: return s.sender;
    case Subject::kRcpt: return s.recipient;
    case Subject::kHelo: return s.helo;
    case Subject::kAuth: return s.auth;
    case Subject::kAddr: break;
  }
  return {};
}

bool at_domain(std::string_view address, std::string_view domain) {
  const auto at = address.rfind('@');
  return at != std::string_view::npos && whitelist::iequals(address.substr(at + 1), domain);
}

}  // namespace

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
  return Subjects{IpAddress::parse(request.client_address), request.client_name, request.sender,
                  request.recipient, request.helo_name, request.sasl_username};
}

Result<Value> parse_value(Subject subject, const Token& token) {
  if (token.kind == Token::Kind::kRegex) {
    if (subject == Subject::kAddr) return invalid("addr takes no regular expression:", token);
    return parse_regex(subject, token);
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
  if (subject == Subject::kDomain) {
    const auto* rule = std::get_if<whitelist::ClientRule>(&value);
    return rule != nullptr && whitelist::matches_name(*rule, subjects.client_name);
  }
  const std::string_view text = field(subject, subjects);
  if (subject == Subject::kAuth && text.empty()) return false;
  if (const auto* regex = std::get_if<whitelist::Regex>(&value)) {
    return whitelist::regex_search(regex->pattern, text);
  }
  if (const auto* exact = std::get_if<ExactText>(&value)) return whitelist::iequals(text, exact->text);
  if (const auto* domain = std::get_if<AtDomain>(&value)) return at_domain(text, domain->domain);
  if (const auto* rule = std::get_if<whitelist::RecipientRule>(&value)) {
    return whitelist::matches_recipient(*rule, text);
  }
  return false;
}

}  // namespace greylist::rules
