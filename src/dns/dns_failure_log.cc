#include "dns/dns_failure_log.h"

#include <cctype>

#include "greylist/log_line.h"

namespace greylist {
namespace {

// Removes `count` leading labels for which `is_part` holds; false (and
// `name` unchanged) when there are not that many.
bool strip_labels(std::string_view& name, int count, bool (*is_part)(std::string_view)) {
  std::string_view rest = name;
  for (int i = 0; i < count; ++i) {
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos || !is_part(rest.substr(0, dot))) return false;
    rest.remove_prefix(dot + 1);
  }
  name = rest;
  return true;
}

bool is_octet(std::string_view label) {
  if (label.empty() || label.size() > 3) return false;
  int value = 0;
  for (const char c : label) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
    value = value * 10 + (c - '0');
  }
  return value <= 255;
}

bool is_nibble(std::string_view label) {
  return label.size() == 1 && std::isxdigit(static_cast<unsigned char>(label[0])) != 0;
}

}  // namespace

std::string DnsFailureLog::zone_of(std::string_view name) {
  std::string_view zone = name;
  if (!strip_labels(zone, 32, is_nibble)) strip_labels(zone, 4, is_octet);
  return std::string(zone);
}

void DnsFailureLog::failed(std::string_view name, std::string_view reason,
                           std::string_view servers) {
  std::string zone = zone_of(name);
  if (logs_.count(zone) == 0 && logs_.size() >= kMaxZones) zone = "(other zones)";
  auto& log = logs_[zone];
  if (!log) log = std::make_unique<RateLimitedLog>(interval_);
  log->log(Severity::kWarning, "DNS list " + printable(zone, 128) + ": lookup of " +
                                   printable(name, 128) + " failed (" + printable(reason, 80) +
                                   ") at " + printable(servers, 256) +
                                   ", counted as not listed");
}

}  // namespace greylist
