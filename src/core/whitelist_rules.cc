#include "whitelist_rules.h"

#include <cctype>

namespace greylist::whitelist {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_space(std::string_view text) {
  for (const char c : text) {
    if (is_space(c)) return true;
  }
  return false;
}

bool all_digits(std::string_view text) {
  if (text.empty() || text.size() > 3) return false;
  for (const char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// "a.b.c" or "a.b": an IPv4 prefix written as leading octets.
std::optional<IpNetwork> octet_prefix(std::string_view text) {
  std::string padded(text);
  int octets = 0;
  std::size_t start = 0;
  for (;;) {
    const auto dot = text.find('.', start);
    if (!all_digits(text.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return std::nullopt;
    }
    ++octets;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (octets < 2 || octets > 3) return std::nullopt;
  for (int i = octets; i < 4; ++i) padded += ".0";
  const auto base = IpAddress::parse(padded);
  if (!base) return std::nullopt;
  return IpNetwork(*base, octets * 8);
}

Result<Regex> compile(std::string_view text) {
  return compile_regex(text.substr(1, text.size() - 2));
}

bool is_regex(std::string_view text) {
  return text.size() >= 2 && text.front() == '/' && text.back() == '/' && !has_space(text);
}

// "name" is "suffix" or ends in ".suffix" (case ignored).
bool is_at_or_under(std::string_view name, std::string_view suffix, bool under_only) {
  if (name.size() == suffix.size()) return !under_only && iequals(name, suffix);
  if (name.size() < suffix.size() + 1) return false;
  return name[name.size() - suffix.size() - 1] == '.' &&
         iequals(name.substr(name.size() - suffix.size()), suffix);
}

// postgrey: user@domain matches "^user(\+[^@]+)?@domain$".
bool local_part_matches(std::string_view local, std::string_view user) {
  if (local.size() < user.size() || !iequals(local.substr(0, user.size()), user)) return false;
  const std::string_view rest = local.substr(user.size());
  return rest.empty() || (rest.size() >= 2 && rest.front() == '+');
}

}  // namespace

Result<Regex> compile_regex(std::string_view body) {
  if (body.empty()) return Status::InvalidArgument("empty regex");
  try {
    return Regex{boost::regex(body.begin(), body.end(), boost::regex::perl | boost::regex::icase)};
  } catch (const std::exception& e) {
    return Status::InvalidArgument("bad regex /" + std::string(body) + "/: " + e.what());
  }
}

bool regex_search(const boost::regex& pattern, std::string_view subject) {
  try {
    return boost::regex_search(subject.begin(), subject.end(), pattern);
  } catch (const std::exception&) {
    return false;  // Boost.Regex gives up on pathological backtracking
  }
}

// ASCII only, without the C library's locale-aware tolower(): this runs
// for every rule of every request.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = static_cast<unsigned char>(b[i]);
    if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z')) return false;
  }
  return true;
}

std::string_view rule_text(std::string_view line) {
  if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  return line;
}

Result<ClientRule> parse_client_rule(std::string_view text) {
  if (is_regex(text)) {
    auto regex = compile(text);
    if (!regex.ok()) return regex.status();
    return ClientRule(std::move(regex).value());
  }
  if (has_space(text)) return Status::InvalidArgument("doesn't look like a hostname");
  const bool looks_numeric = text.find_first_not_of("0123456789./") == std::string_view::npos &&
                             text.find_first_of("0123456789") != std::string_view::npos;
  if (looks_numeric) {
    if (text.find('/') == std::string_view::npos) {
      if (auto prefix = octet_prefix(text)) return ClientRule(Network{*prefix});
    }
    if (auto network = IpNetwork::parse(text)) return ClientRule(Network{*network});
    return Status::InvalidArgument("doesn't look like an address");
  }
  if (text.find(':') != std::string_view::npos) {
    if (auto network = IpNetwork::parse(text)) return ClientRule(Network{*network});
    return Status::InvalidArgument("doesn't look like an address");
  }
  const bool under_only = text.front() == '.';
  const std::string_view name = under_only ? text.substr(1) : text;
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.' ||
      name.find("..") != std::string_view::npos) {
    return Status::InvalidArgument("doesn't look like a hostname");
  }
  for (const char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '.' && c != '_') {
      return Status::InvalidArgument("doesn't look like a hostname");
    }
  }
  return ClientRule(NameSuffix{lowercase(name), under_only});
}

Result<RecipientRule> parse_recipient_rule(std::string_view text) {
  if (is_regex(text)) {
    auto regex = compile(text);
    if (!regex.ok()) return regex.status();
    return RecipientRule(std::move(regex).value());
  }
  if (has_space(text)) return Status::InvalidArgument("doesn't look like an address");
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) {
    if (text.front() == '.' || text.back() == '.') {
      return Status::InvalidArgument("doesn't look like a domain");
    }
    return RecipientRule(Domain{lowercase(text)});
  }
  const std::string_view user = text.substr(0, at);
  const std::string_view domain = text.substr(at + 1);
  if (user.empty()) return Status::InvalidArgument("doesn't look like an address (no local part)");
  if (domain.empty()) return RecipientRule(LocalPart{lowercase(user)});
  return RecipientRule(Address{lowercase(user), lowercase(domain)});
}

bool matches_name(const ClientRule& rule, std::string_view client_name) {
  if (client_name.empty() || iequals(client_name, "unknown")) return false;
  if (const auto* regex = std::get_if<Regex>(&rule)) return regex_search(regex->pattern, client_name);
  if (const auto* suffix = std::get_if<NameSuffix>(&rule)) {
    return is_at_or_under(client_name, suffix->suffix, suffix->subdomains_only);
  }
  return false;
}

bool matches_address(const ClientRule& rule, const IpAddress& address) {
  const auto* network = std::get_if<Network>(&rule);
  return network != nullptr && network->network.contains(address);
}

bool matches_recipient(const RecipientRule& rule, std::string_view recipient) {
  if (const auto* regex = std::get_if<Regex>(&rule)) return regex_search(regex->pattern, recipient);
  const auto at = recipient.rfind('@');
  const std::string_view local = at == std::string_view::npos ? recipient : recipient.substr(0, at);
  const std::string_view domain =
      at == std::string_view::npos ? std::string_view() : recipient.substr(at + 1);
  if (const auto* address = std::get_if<Address>(&rule)) {
    return at != std::string_view::npos && iequals(domain, address->domain) &&
           local_part_matches(local, address->user);
  }
  if (const auto* local_part = std::get_if<LocalPart>(&rule)) {
    return at != std::string_view::npos && local_part_matches(local, local_part->user);
  }
  const auto& d = std::get<Domain>(rule);
  return at != std::string_view::npos && is_at_or_under(domain, d.domain, false);
}

}  // namespace greylist::whitelist
