#include "util/socket_spec.h"

#include <sys/un.h>

#include <charconv>

namespace greylist {
namespace {

Result<std::uint16_t> parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value == 0 || value > 65535) {
    return Status::InvalidArgument("bad port in socket '" + std::string(whole) +
                                   "': expected 1..65535");
  }
  return static_cast<std::uint16_t>(value);
}

Result<SocketSpec> parse_host_port(std::string_view rest, std::string_view whole) {
  SocketSpec spec;
  spec.kind = SocketSpec::Kind::kInet;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return Status::InvalidArgument("bad IPv6 socket '" + std::string(whole) +
                                     "': expected inet:[ADDRESS]:PORT");
    }
    spec.host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
      spec.host = "localhost";
      port_text = rest;
    } else {
      spec.host = std::string(rest.substr(0, colon));
      port_text = rest.substr(colon + 1);
      if (spec.host.find(':') != std::string::npos) {
        return Status::InvalidArgument("bad socket '" + std::string(whole) +
                                       "': put an IPv6 address in brackets, inet:[::1]:PORT");
      }
    }
  }
  if (spec.host.empty()) {
    return Status::InvalidArgument("bad socket '" + std::string(whole) + "': empty host");
  }
  auto port = parse_port(port_text, whole);
  if (!port.ok()) return port.status();
  spec.port = port.value();
  return spec;
}

}  // namespace

std::string SocketSpec::to_string() const {
  switch (kind) {
    case Kind::kNone: return "none";
    case Kind::kUnix: return "unix:" + path;
    case Kind::kInet:
      if (host.find(':') != std::string::npos) {
        return "inet:[" + host + "]:" + std::to_string(port);
      }
      return "inet:" + host + ":" + std::to_string(port);
  }
  return "none";
}

std::string SocketSpec::to_libmilter() const {
  switch (kind) {
    case Kind::kNone: return "";
    case Kind::kUnix: return "unix:" + path;
    case Kind::kInet:
      if (host.find(':') != std::string::npos) {
        return "inet6:" + std::to_string(port) + "@" + host;
      }
      return "inet:" + std::to_string(port) + "@" + host;
  }
  return "";
}

Result<SocketSpec> parse_socket_spec(std::string_view text) {
  if (text == "none") return SocketSpec{};
  if (text.starts_with("unix:")) {
    SocketSpec spec;
    spec.kind = SocketSpec::Kind::kUnix;
    spec.path = std::string(text.substr(5));
    if (spec.path.empty()) {
      return Status::InvalidArgument("bad socket '" + std::string(text) + "': empty path");
    }
    if (spec.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      return Status::InvalidArgument("bad socket '" + std::string(text) + "': path too long");
    }
    return spec;
  }
  if (text.starts_with("inet:")) return parse_host_port(text.substr(5), text);
  return Status::InvalidArgument("bad socket '" + std::string(text) +
                                 "': expected inet:HOST:PORT, inet:[IPV6]:PORT, unix:PATH or none");
}

Result<SocketSpec> parse_postgrey_inet(std::string_view text) {
  return parse_host_port(text, text);
}

}  // namespace greylist
