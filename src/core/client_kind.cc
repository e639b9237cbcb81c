#include "greylist/client_kind.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "greylist/ip_address.h"

namespace greylist {
namespace {

constexpr std::size_t kMaxNameLength = 253;

// Labels (or their letters before the first digit) that name a mail
// server's role. One of them makes the name a server's, whatever else it
// holds: provider pools put numbers, even the address, in such names
// ("out203-205-221-233.mail.qq.com", "mail-wr1-f41.google.com").
constexpr std::array<std::string_view, 22> kServerWords = {
    "mail", "smtp", "mx", "mta", "relay", "out", "outbound", "mout", "omr", "mailout",
    "smtpout", "mailer", "mailgw", "mailhost", "gateway", "forward", "bounce", "bounces",
    "lists", "list", "postfix", "exchange"};

// Words ISPs put in customer names.
constexpr std::array<std::string_view, 37> kDynamicWords = {
    "dyn", "dynamic", "dynamicip", "dynip", "dhcp", "dsl", "adsl", "vdsl", "xdsl", "sdsl",
    "cable", "pool", "pools", "ppp", "pppoe", "dialup", "dial", "dialin", "cpe", "res",
    "resi", "residential", "cust", "customer", "customers", "client", "clients", "broadband",
    "bband", "mobile", "wireless", "ftth", "fiber", "fibre", "user", "users", "subscriber"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& words, std::string_view word) {
  for (const auto w : words) {
    if (w == word) return true;
  }
  return false;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The labels that say something about the host: all but the registered
// domain's (or, without it, all but the last two).
std::string host_part(const std::string& name, std::string_view registered_domain) {
  if (!registered_domain.empty()) {
    const std::string domain = lowercase(registered_domain);
    if (name == domain) return {};
    if (name.size() > domain.size() && name.ends_with(domain) &&
        name[name.size() - domain.size() - 1] == '.') {
      return name.substr(0, name.size() - domain.size() - 1);
    }
  }
  const auto last = name.rfind('.');
  if (last == std::string::npos || last == 0) return {};
  const auto second = name.rfind('.', last - 1);
  if (second == std::string::npos) return {};
  return name.substr(0, second);
}

// Tokens between '.', '-' and '_'.
std::vector<std::string_view> tokens(std::string_view host) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= host.size(); ++i) {
    if (i == host.size() || host[i] == '.' || host[i] == '-' || host[i] == '_') {
      if (i > start) out.push_back(host.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string_view letters_before_digit(std::string_view token) {
  std::size_t i = 0;
  while (i < token.size() && std::isalpha(static_cast<unsigned char>(token[i])) != 0) ++i;
  return token.substr(0, i);
}

bool all_digits(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// Every maximal run of digits, as a number (runs of more than 3 digits
// cannot be an octet and are kept as 1000).
std::vector<int> digit_runs(std::string_view host) {
  std::vector<int> out;
  std::size_t i = 0;
  while (i < host.size()) {
    if (std::isdigit(static_cast<unsigned char>(host[i])) == 0) {
      ++i;
      continue;
    }
    std::size_t end = i;
    int value = 0;
    while (end < host.size() && std::isdigit(static_cast<unsigned char>(host[end])) != 0) {
      if (end - i < 4) value = value * 10 + (host[end] - '0');
      ++end;
    }
    out.push_back(end - i > 3 ? 1000 : value);
    i = end;
  }
  return out;
}

// Three consecutive octets in order (a.b.c or b.c.d), or all four reversed.
bool has_octets(const std::vector<int>& runs, const std::array<std::uint8_t, 16>& bytes) {
  const int o[4] = {bytes[0], bytes[1], bytes[2], bytes[3]};
  for (std::size_t i = 0; i + 3 <= runs.size(); ++i) {
    const bool abc = runs[i] == o[0] && runs[i + 1] == o[1] && runs[i + 2] == o[2];
    const bool bcd = runs[i] == o[1] && runs[i + 1] == o[2] && runs[i + 2] == o[3];
    if (abc || bcd) return true;
    if (i + 4 <= runs.size() && runs[i] == o[3] && runs[i + 1] == o[2] && runs[i + 2] == o[1] &&
        runs[i + 3] == o[0]) {
      return true;
    }
  }
  return false;
}

bool has_hex_address(std::string_view host, const std::array<std::uint8_t, 16>& bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < 4; ++i) {
    hex += kHex[bytes[i] >> 4];
    hex += kHex[bytes[i] & 0x0f];
  }
  return host.find(hex) != std::string_view::npos;
}

bool is_host_name(std::string_view name) {
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' ||
                    c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

ClientKind classify_client(std::string_view name, std::string_view address,
                           std::string_view registered_domain) {
  if (name.empty() || name.size() > kMaxNameLength || !is_host_name(name)) {
    return ClientKind::kUnknown;
  }
  const std::string lower = lowercase(name);
  if (lower == "unknown") return ClientKind::kUnknown;
  const std::string host = host_part(lower, registered_domain);
  const auto parts = tokens(host);
  int numeric = 0;
  bool dynamic_word = false;
  for (const auto token : parts) {
    const auto word = letters_before_digit(token);
    if (contains(kServerWords, token) || contains(kServerWords, word)) return ClientKind::kServer;
    if (contains(kDynamicWords, token) || contains(kDynamicWords, word)) dynamic_word = true;
    if (all_digits(token)) ++numeric;
  }
  if (dynamic_word || numeric >= 3) return ClientKind::kDynamic;
  const auto ip = IpAddress::parse(address);
  if (ip && ip->family() == IpAddress::Family::kV4 &&
      (has_octets(digit_runs(host), ip->bytes()) || has_hex_address(host, ip->bytes()))) {
    return ClientKind::kDynamic;
  }
  return ClientKind::kServer;
}

const char* to_string(ClientKind kind) {
  switch (kind) {
    case ClientKind::kUnknown:
      return "unknown";
    case ClientKind::kDynamic:
      return "dynamic";
    case ClientKind::kServer:
      return "server";
  }
  return "unknown";
}

}  // namespace greylist
