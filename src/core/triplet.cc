#include "greylist/triplet.h"

#include <cctype>
#include <vector>

#include "greylist/ip_address.h"

namespace greylist {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Perl's \w: what a \b boundary is measured against.
bool is_word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
}

bool starts_with_batv_tag(std::string_view part) {
  if (part.size() < 10) return false;
  for (std::size_t i = 0; i < 10; ++i) {
    const char c = part[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

// BATV: "prvs=TAG=user" (or "prvs=user=TAG") -> "user"; anything else unchanged.
std::string strip_batv(std::string_view user) {
  if (lowercase(user.substr(0, 5)) != "prvs=") return std::string(user);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 4) {
    const auto eq = user.find('=', start);
    parts.push_back(user.substr(start, eq == std::string_view::npos ? eq : eq - start));
    if (eq == std::string_view::npos) break;
    start = eq + 1;
  }
  if (parts.size() != 3) return std::string(user);
  const bool first_is_tag = starts_with_batv_tag(parts[1]);
  const bool second_is_tag = starts_with_batv_tag(parts[2]);
  if (second_is_tag && !first_is_tag) return std::string(parts[1]);
  return std::string(parts[2]);
}

// Perl's s/\b\d+\b/#/g: a whole digit run between non-word characters.
std::string replace_number_words(std::string_view user) {
  std::string out;
  out.reserve(user.size());
  std::size_t i = 0;
  while (i < user.size()) {
    const bool boundary_before = i == 0 || !is_word_char(user[i - 1]);
    if (boundary_before && std::isdigit(static_cast<unsigned char>(user[i])) != 0) {
      std::size_t end = i;
      while (end < user.size() && std::isdigit(static_cast<unsigned char>(user[end])) != 0) ++end;
      if (end == user.size() || !is_word_char(user[end])) {
        out += '#';
        i = end;
        continue;
      }
      out.append(user.substr(i, end - i));
      i = end;
      continue;
    }
    out += user[i++];
  }
  return out;
}

}  // namespace

std::string client_network(std::string_view client_address, const GreylistConfig& config) {
  const auto address = IpAddress::parse(client_address);
  if (!address) return lowercase(client_address);
  if (config.lookup_by_host) return address->to_string();
  const int prefix =
      address->family() == IpAddress::Family::kV4 ? config.ipv4_cidr : config.ipv6_cidr;
  return address->masked(prefix).to_string();
}

std::string network_with_prefix(std::string_view network, const GreylistConfig& config) {
  const auto address = IpAddress::parse(network);
  if (!address) return std::string(network);
  int prefix = address->bits();
  if (!config.lookup_by_host) {
    prefix = address->family() == IpAddress::Family::kV4 ? config.ipv4_cidr : config.ipv6_cidr;
  }
  // Not masked again: a network stored under other settings shows as it is.
  return address->to_string() + "/" + std::to_string(prefix);
}

std::string client_network_text(std::string_view client_address, const GreylistConfig& config) {
  return network_with_prefix(client_network(client_address, config), config);
}

std::string normalize_sender(std::string_view sender) {
  const auto at = sender.find('@');
  if (at == std::string_view::npos) return lowercase(sender);
  std::string user = strip_batv(sender.substr(0, at));
  if (const auto plus = user.find('+'); plus != std::string::npos) user.resize(plus);
  user = replace_number_words(user);
  return lowercase(user) + "@" + lowercase(sender.substr(at + 1));
}

std::string normalize_recipient(std::string_view recipient) { return lowercase(recipient); }

std::string_view address_domain(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(at + 1);
}

}  // namespace greylist
