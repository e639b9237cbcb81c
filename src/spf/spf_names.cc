#include "spf/spf_names.h"

#include <algorithm>
#include <cctype>

namespace greylist::spf {
namespace {

bool is_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return c >= 0x21 && c <= 0x7e && c != '\\'; });
}

// Calls is_label on each dot-separated label; false at the first bad one.
bool all_labels(std::string_view name, std::size_t& count) {
  count = 0;
  for (;;) {
    const auto dot = name.find('.');
    if (!is_label(name.substr(0, dot))) return false;
    ++count;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

std::string nibbles(const IpAddress& address, bool reversed) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    const int at = reversed ? 31 - i : i;
    const std::uint8_t byte = address.bytes()[static_cast<std::size_t>(at / 2)];
    if (i != 0) out += '.';
    out += kHex[at % 2 == 0 ? byte >> 4 : byte & 0xf];
  }
  return out;
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool is_toplabel(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  bool alpha = false;
  bool hyphen = false;
  for (const char c : label) {
    if (c == '-') hyphen = true;
    else if (!is_alnum(c)) return false;
    else if (std::isalpha(static_cast<unsigned char>(c)) != 0) alpha = true;
  }
  return alpha || hyphen;
}

bool is_checkable_domain(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  std::size_t labels = 0;
  if (domain.size() > kMaxDomainLength || !all_labels(domain, labels) || labels < 2) return false;
  return is_toplabel(domain.substr(domain.rfind('.') + 1));
}

std::optional<std::string> query_name(std::string_view expanded) {
  if (!expanded.empty() && expanded.back() == '.') expanded.remove_suffix(1);
  while (expanded.size() > kMaxDomainLength) {
    const auto dot = expanded.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    expanded.remove_prefix(dot + 1);
  }
  std::size_t labels = 0;
  if (!all_labels(expanded, labels)) return std::nullopt;
  std::string name(expanded);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::string macro_address(const IpAddress& address) {
  if (address.family() == IpAddress::Family::kV6) return nibbles(address, false);
  return address.to_string();
}

std::string reverse_name(const IpAddress& address) {
  if (address.family() == IpAddress::Family::kV6) return nibbles(address, true) + ".ip6.arpa";
  const auto& b = address.bytes();
  return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) + "." +
         std::to_string(b[0]) + ".in-addr.arpa";
}

bool is_within(std::string_view name, std::string_view domain) {
  if (name == domain) return true;
  return name.size() > domain.size() && name.substr(name.size() - domain.size()) == domain &&
         name[name.size() - domain.size() - 1] == '.';
}

}  // namespace greylist::spf
