#include "store/redis_url.h"

#include <charconv>

namespace greylist {
namespace {

constexpr int kDefaultPort = 6379;
constexpr std::size_t kMaxSentinels = 16;
constexpr std::size_t kMaxUrlLength = 4096;
// Redis' own limit ("databases" defaults to 16; configurable higher).
constexpr int kMaxDatabase = 1'000'000;

Status bad(std::string_view what) {
  return Status::InvalidArgument("redis URL: " + std::string(what));
}

Status bad_list(std::string_view what) {
  return Status::InvalidArgument("sentinel list: " + std::string(what));
}

Result<int> parse_int(std::string_view text, int min, int max, std::string_view what) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return bad(std::string(what) + " '" + std::string(text) + "' is not a number from " +
               std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX escapes decoded; the text itself is never echoed (it may be a password).
Result<std::string> percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const bool complete = i + 2 < text.size();
    const int high = complete ? hex_digit(text[i + 1]) : -1;
    const int low = complete ? hex_digit(text[i + 2]) : -1;
    if (high < 0 || low < 0) return bad("bad %XX escape in the " + std::string(what));
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

bool has_control_or_space(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') return true;
  }
  return false;
}

// "[USER]:PASSWORD" or "PASSWORD"-less "USER" (before the '@').
Status parse_userinfo(std::string_view userinfo, RedisUrl& url) {
  const auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    // "redis://secret@host" is what many tools write for a password alone.
    auto password = percent_decode(userinfo, "password");
    if (!password.ok()) return password.status();
    url.password = password.value();
    return Status::Ok();
  }
  auto user = percent_decode(userinfo.substr(0, colon), "user");
  if (!user.ok()) return user.status();
  auto password = percent_decode(userinfo.substr(colon + 1), "password");
  if (!password.ok()) return password.status();
  url.user = user.value();
  url.password = password.value();
  if (!url.user.empty() && url.password.empty()) return bad("a user needs a password");
  return Status::Ok();
}

Result<RedisHostPort> parse_host_port(std::string_view text, int default_port,
                                      std::string_view what) {
  RedisHostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad(std::string(what) + ": missing ']'");
    out.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad(std::string(what) + ": junk after ']'");
      port_text = rest.substr(1);
      if (port_text.empty()) return bad(std::string(what) + ": empty port");
    }
    if (out.host.find(':') == std::string::npos) {
      return bad(std::string(what) + ": brackets are for IPv6 addresses");
    }
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return bad(std::string(what) + ": write an IPv6 address in brackets, [addr]:port");
    }
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty()) return bad(std::string(what) + ": empty port");
    }
  }
  if (out.host.empty()) return bad(std::string(what) + ": no host");
  if (has_control_or_space(out.host) || out.host.find_first_of("/@?#%") != std::string::npos) {
    return bad(std::string(what) + ": '" + out.host + "' is not a host name or address");
  }
  if (port_text.empty()) {
    if (default_port == 0) return bad(std::string(what) + ": '" + std::string(text) + "' needs a :port");
    out.port = default_port;
  } else {
    auto port = parse_int(port_text, 1, 65535, "port");
    if (!port.ok()) return port.status();
    out.port = port.value();
  }
  return out;
}

// "?db=N" (the only query parameter understood).
Status parse_query(std::string_view query, RedisUrl& url) {
  if (query.empty()) return Status::Ok();
  if (!query.starts_with("db=")) return bad("unknown parameter in '?" + std::string(query) + "'");
  auto db = parse_int(query.substr(3), 0, kMaxDatabase, "database");
  if (!db.ok()) return db.status();
  url.database = db.value();
  return Status::Ok();
}

Result<RedisUrl> parse_unix(std::string_view rest) {
  RedisUrl url;
  url.kind = RedisUrl::Kind::kUnix;
  if (rest.starts_with("//")) {
    rest.remove_prefix(2);
    const auto at = rest.rfind('@');
    if (at != std::string_view::npos) {
      if (Status s = parse_userinfo(rest.substr(0, at), url); !s.ok()) return s;
      rest.remove_prefix(at + 1);
    }
  }
  const auto question = rest.find('?');
  url.path = std::string(rest.substr(0, question));
  if (question != std::string_view::npos) {
    if (Status s = parse_query(rest.substr(question + 1), url); !s.ok()) return s;
  }
  if (url.path.empty() || url.path.front() != '/') {
    return bad("a unix socket path must be absolute (unix:/run/redis/redis-server.sock)");
  }
  if (has_control_or_space(url.path)) return bad("control characters in the socket path");
  return url;
}

}  // namespace

std::string RedisHostPort::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<RedisUrl> RedisUrl::parse(std::string_view text) {
  if (text.size() > kMaxUrlLength) return bad("longer than 4096 bytes");
  if (text.starts_with("rediss://")) {
    return bad(
        "rediss:// (TLS) is not available: Debian 12's hiredis 0.14.1 has no TLS support; "
        "use a unix socket, or a tunnel (stunnel, WireGuard) to a remote server");
  }
  if (text.starts_with("unix:")) return parse_unix(text.substr(5));
  if (!text.starts_with("redis://")) {
    // Not echoed: it may hold a password.
    return bad("must start with redis:// or unix:");
  }
  std::string_view rest = text.substr(8);
  RedisUrl url;
  // The authority ends at the path ("/DB") or the query ("?db=DB").
  const auto end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
  if (tail.starts_with("/")) tail.remove_prefix(1);
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (Status s = parse_userinfo(authority.substr(0, at), url); !s.ok()) return s;
    authority.remove_prefix(at + 1);
  }
  auto address = parse_host_port(authority, kDefaultPort, "host");
  if (!address.ok()) return address.status();
  url.address = address.value();
  if (!tail.empty()) {
    const auto question = tail.find('?');
    const std::string_view db = tail.substr(0, question);
    if (!db.empty()) {
      auto number = parse_int(db, 0, kMaxDatabase, "database");
      if (!number.ok()) return number.status();
      url.database = number.value();
    }
    if (question != std::string_view::npos) {
      if (Status s = parse_query(tail.substr(question + 1), url); !s.ok()) return s;
    }
  }
  return url;
}

std::string RedisUrl::to_string() const {
  std::string out = kind == Kind::kUnix ? "unix:" : "redis://";
  if (kind == Kind::kUnix) {
    if (!user.empty()) out += "//" + user + "@";
    out += path;
    if (database != 0) out += "?db=" + std::to_string(database);
    return out;
  }
  if (!user.empty()) out += user + "@";
  out += address.to_string() + "/" + std::to_string(database);
  return out;
}

Result<std::vector<RedisHostPort>> parse_redis_host_ports(std::string_view text) {
  std::vector<RedisHostPort> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view one = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.empty()) continue;
    if (out.size() == kMaxSentinels) return bad_list("more than 16 sentinels");
    auto address = parse_host_port(one, 0, "sentinel");
    if (!address.ok()) {
      std::string message = address.status().message();
      if (message.starts_with("redis URL: ")) message.erase(0, 11);
      return bad_list(message);
    }
    out.push_back(address.value());
  }
  return out;
}

}  // namespace greylist
