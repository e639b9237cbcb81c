// SocketSpec: a listening address in Postfix's syntax.
//
//   inet:HOST:PORT      IPv4 address or host name ("localhost")
//   inet:[IPV6]:PORT    IPv6 literal in brackets
//   inet:PORT           loopback (postgrey's bare-port rule: localhost)
//   unix:PATH           unix-domain socket
//   none                the front end is disabled
// postgrey's --inet [HOST:]PORT and --unix PATH map onto the same struct.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "greylist/status.h"

namespace greylist {

struct SocketSpec {
  enum class Kind { kNone, kInet, kUnix };
  Kind kind = Kind::kNone;
  std::string host;    // kInet: without brackets ("127.0.0.1", "::1", "localhost")
  std::uint16_t port = 0;  // kInet
  std::string path;    // kUnix

  // Back to Postfix syntax (for logs): "inet:[::1]:8891", "unix:/run/x.sock", "none".
  std::string to_string() const;
  // libmilter's syntax: "inet:PORT@HOST", "inet6:PORT@HOST", "unix:PATH".
  std::string to_libmilter() const;
};

// Parses Postfix syntax; InvalidArgument naming the problem otherwise.
// Port must be 1..65535; a unix path must be non-empty and absolute or
// relative but shorter than sun_path.
Result<SocketSpec> parse_socket_spec(std::string_view text);

// postgrey's --inet value: "[HOST:]PORT" (a bare port means localhost).
Result<SocketSpec> parse_postgrey_inet(std::string_view text);

}  // namespace greylist
