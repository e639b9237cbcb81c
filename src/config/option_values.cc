#include "config/option_values.h"

#include <syslog.h>

#include <charconv>
#include <utility>

#include "greylist/ip_address.h"

namespace greylist::config {

Status bad(const std::string& option, const std::string& what) {
  return Status::InvalidArgument("option --" + option + ": " + what);
}

Result<std::int64_t> parse_number(const std::string& option, std::string_view text,
                                  std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return bad(option, "'" + std::string(text) + "' is not a whole number from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

Result<std::uint64_t> parse_byte_size(const std::string& option, std::string_view text,
                                      std::uint64_t min, std::uint64_t max) {
  unsigned shift = 0;
  std::string_view digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      default: break;
    }
    if (shift != 0) digits.remove_suffix(1);
  }
  std::uint64_t value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  const bool parsed = !digits.empty() && ec == std::errc() && ptr == end && value <= (max >> shift);
  if (!parsed || (value << shift) < min) {
    return bad(option, "'" + std::string(text) + "' is not a size from " +
                           std::to_string(min >> 20) + "M to " + std::to_string(max >> 30) +
                           "G (bytes, or a number followed by K, M or G)");
  }
  return value << shift;
}

Result<std::int64_t> parse_retry_window(std::string_view text) {
  if (!text.empty() && (text.back() == 'h' || text.back() == 'H')) {
    auto hours = parse_number("retry-window", text.substr(0, text.size() - 1), 1, 24 * 3650);
    if (!hours.ok()) return hours.status();
    return hours.value() * 3600;
  }
  auto days = parse_number("retry-window", text, 1, 3650);
  if (!days.ok()) {
    return bad("retry-window", "'" + std::string(text) +
                                   "' must be a number of days, or a number followed by 'h' "
                                   "for hours ('6h' for example)");
  }
  return days.value() * kDay;
}

Result<int> parse_facility(const std::string& name) {
  static const std::pair<const char*, int> kFacilities[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
  for (const auto& [facility_name, value] : kFacilities) {
    if (name == facility_name) return value;
  }
  return bad("syslog-facility", "unknown facility '" + name + "' (mail, daemon, user, local0..7)");
}

Result<unsigned> parse_socket_mode(const std::string& text) {
  unsigned long mode = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || mode > 0777) {
    return bad("socketmode", "'" + text + "' is not an octal mode like 0660");
  }
  return static_cast<unsigned>(mode);
}

Result<std::vector<std::string>> parse_network_list(const std::vector<std::string>& items) {
  std::vector<std::string> networks;
  for (const auto& item : items) {
    std::string_view rest = item;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view one = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
      while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
      if (one.empty()) continue;
      if (!IpNetwork::parse(one)) {
        return bad("skip-networks", "'" + std::string(one) + "' is not an address or CIDR network");
      }
      networks.emplace_back(one);
    }
  }
  return networks;
}

}  // namespace greylist::config
