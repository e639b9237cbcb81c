// RedisUrl: where a Redis server is and how to log in, parsed from the
// --redis URL; and the host:port list of --redis-sentinel.
//
// Accepted forms (the usual Redis URL syntax):
//   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]      HOST a name, an IPv4
//                                                   address or [IPv6]
//   unix:PATH[?db=DB]                               a unix socket
//   unix://[[USER]:PASSWORD@]PATH[?db=DB]
// PORT defaults to 6379, DB to 0. USER and PASSWORD may use %XX escapes
// (a '@' or ':' in a password is written %40 / %3A). A USER needs Redis 6
// ACLs; a PASSWORD alone is the classic requirepass.
//
// rediss:// (TLS) is refused: Debian 12's hiredis (0.14.1) has no TLS
// support (it came with hiredis 1.0's hiredis_ssl). Use a unix socket or a
// tunnel (stunnel, WireGuard) to a remote server instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist {

struct RedisHostPort {
  std::string host;  // name or address, IPv6 without brackets
  int port = 0;

  // "host:port", IPv6 as "[addr]:port".
  std::string to_string() const;
};

struct RedisUrl {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  RedisHostPort address{"127.0.0.1", 6379};  // kTcp
  std::string path;                          // kUnix
  std::string user;                          // empty: the default user
  std::string password;                      // empty: no AUTH
  int database = 0;

  // Parses one of the forms above. kInvalidArgument naming what is wrong
  // (never echoing the password) for anything else.
  static Result<RedisUrl> parse(std::string_view text);

  // The URL without its password, for log lines: "redis://user@host:port/db".
  std::string to_string() const;
};

// "host:port[,host:port...]" (spaces around commas allowed, IPv6 as
// "[addr]:port"); an empty text is an empty list. At most 16 entries.
Result<std::vector<RedisHostPort>> parse_redis_host_ports(std::string_view text);

}  // namespace greylist
