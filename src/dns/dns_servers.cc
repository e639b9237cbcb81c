#include "dns/dns_servers.h"

#include "greylist/ip_address.h"
#include "greylist/log_line.h"

namespace greylist {
namespace {

Status bad(std::string_view spec, const char* why) {
  return Status::InvalidArgument("bad --dns-server '" + printable(spec, 64) + "': " + why);
}

bool parse_port(std::string_view text, int& port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) return false;
  port = value;
  return true;
}

}  // namespace

Result<DnsServer> parse_dns_server(std::string_view spec) {
  std::string_view host = spec;
  int port = 53;
  if (!spec.empty() && spec.front() == '[') {
    const auto close = spec.find(']');
    if (close == std::string_view::npos) return bad(spec, "no ']'");
    host = spec.substr(1, close - 1);
    const std::string_view rest = spec.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1), port))) {
      return bad(spec, "expected [ADDRESS]:PORT");
    }
  } else if (const auto colon = spec.find(':');
             colon != std::string_view::npos && spec.find(':', colon + 1) == std::string_view::npos) {
    host = spec.substr(0, colon);
    if (!parse_port(spec.substr(colon + 1), port)) return bad(spec, "bad port");
  }
  const auto address = IpAddress::parse(host);
  if (!address || host.find_first_of("[]") != std::string_view::npos) {
    return bad(spec, "not an IP address (host names are not resolved)");
  }
  return DnsServer{address->to_string(), address->family() == IpAddress::Family::kV6, port};
}

std::string dns_servers_csv(const std::vector<DnsServer>& servers) {
  std::string csv;
  for (const DnsServer& server : servers) {
    if (!csv.empty()) csv += ',';
    csv += server.ipv6 ? "[" + server.address + "]" : server.address;
    csv += ":" + std::to_string(server.port);
  }
  return csv;
}

}  // namespace greylist
