// DnsFailureLog: a warning when a DNS list lookup fails or times out, at
// most once per interval for each zone (the query name without its
// reversed client address), with the count of those not logged, naming
// the servers asked. A failure counts as "not listed": it is never an error answer to the MTA. Used by
// one thread (the resolver's); at most kMaxZones zones are told apart.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "util/log.h"

namespace greylist {

class DnsFailureLog {
 public:
  static constexpr std::size_t kMaxZones = 256;

  explicit DnsFailureLog(std::chrono::seconds interval) : interval_(interval) {}

  // "DNS list ZONE: lookup of NAME failed (REASON) at SERVERS, counted as
  // not listed", rate-limited per zone.
  void failed(std::string_view name, std::string_view reason, std::string_view servers);

  // "zone.example" for "2.0.0.127.zone.example" (and the IPv6 nibble
  // form); the whole name when it does not start with a reversed address.
  static std::string zone_of(std::string_view name);

 private:
  std::chrono::seconds interval_;
  std::map<std::string, std::unique_ptr<RateLimitedLog>> logs_;
};

}  // namespace greylist
