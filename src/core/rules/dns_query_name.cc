#include "core/rules/dns_query_name.h"

namespace greylist::rules {

std::string dnsbl_query_name(const IpAddress& address, std::string_view zone) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto& bytes = address.bytes();
  std::string name;
  if (address.family() == IpAddress::Family::kV4) {
    for (int i = 3; i >= 0; --i) name += std::to_string(bytes[static_cast<std::size_t>(i)]) + ".";
  } else {
    name.reserve(64 + zone.size());
    for (int i = 15; i >= 0; --i) {
      const std::uint8_t byte = bytes[static_cast<std::size_t>(i)];
      name += kHex[byte & 0x0f];
      name += '.';
      name += kHex[byte >> 4];
      name += '.';
    }
  }
  name += zone;
  return name;
}

}  // namespace greylist::rules
