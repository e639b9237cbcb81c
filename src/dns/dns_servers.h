// --dns-server values: "HOST" or "HOST:PORT", HOST an IPv4 or IPv6 address
// (IPv6 with a port as "[ADDR]:PORT"); port 53 when none is given.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist {

struct DnsServer {
  std::string address;  // canonical text
  bool ipv6 = false;
  int port = 53;
};

// InvalidArgument("bad --dns-server 'X': why") for a name (c-ares takes
// addresses only), a bad address or port.
Result<DnsServer> parse_dns_server(std::string_view spec);

// The servers in c-ares' CSV form ("192.0.2.1:53,[2001:db8::1]:5353").
std::string dns_servers_csv(const std::vector<DnsServer>& servers);

}  // namespace greylist
