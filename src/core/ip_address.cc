#include "greylist/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace greylist {
namespace {

constexpr std::size_t kMaxAddressText = 64;  // longer than any address form

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b.data(), kPrefix, sizeof kPrefix) == 0;
}

}  // namespace

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress a;
  a.family_ = Family::kV4;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  if (is_v4_mapped(bytes)) return v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  IpAddress a;
  a.family_ = Family::kV6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.size() > 5 && (text.substr(0, 5) == "IPv6:" || text.substr(0, 5) == "ipv6:")) {
    text = text.substr(5);
  }
  if (text.empty() || text.size() >= kMaxAddressText) return std::nullopt;
  // inet_pton reads a C string: an embedded NUL would hide what follows it.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  char buffer[kMaxAddressText];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  std::array<std::uint8_t, 16> bytes{};
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buffer, bytes.data()) != 1) return std::nullopt;
    return v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  }
  if (inet_pton(AF_INET6, buffer, bytes.data()) != 1) return std::nullopt;
  return v6(bytes);
}

IpAddress IpAddress::masked(int prefix) const {
  prefix = std::clamp(prefix, 0, bits());
  IpAddress out = *this;
  const int total_bytes = bits() / 8;
  for (int i = 0; i < total_bytes; ++i) {
    const int keep = std::clamp(prefix - i * 8, 0, 8);
    const auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    out.bytes_[static_cast<std::size_t>(i)] &= mask;
  }
  return out;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN];
  const int af = family_ == Family::kV4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes_.data(), buffer, sizeof buffer) == nullptr) return "?";
  return buffer;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  int prefix = address->bits();
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const char* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, prefix);
    if (digits.empty() || ec != std::errc() || ptr != end || prefix < 0 ||
        prefix > address->bits()) {
      return std::nullopt;
    }
  }
  return IpNetwork(*address, prefix);
}

bool IpNetwork::contains(const IpAddress& address) const {
  return address.family() == base_.family() && address.masked(prefix_) == base_;
}

std::string IpNetwork::to_string() const {
  return base_.to_string() + "/" + std::to_string(prefix_);
}

}  // namespace greylist
