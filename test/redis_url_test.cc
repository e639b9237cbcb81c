// RedisUrl::parse and parse_redis_host_ports: the accepted forms, and a
// table of what is refused (with a message that never echoes a password).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/redis_url.h"

namespace greylist {
namespace {

RedisUrl must_parse(const std::string& text) {
  auto url = RedisUrl::parse(text);
  REQUIRE_MESSAGE(url.ok(), (text + ": " + url.status().message()));
  return url.value();
}

TEST_SUITE("redis_url") {

TEST_CASE("redis:// with defaults, port, database, credentials, IPv6") {
  RedisUrl url = must_parse("redis://127.0.0.1");
  CHECK(url.kind == RedisUrl::Kind::kTcp);
  CHECK(url.address.host == "127.0.0.1");
  CHECK(url.address.port == 6379);
  CHECK(url.database == 0);
  CHECK(url.user.empty());
  CHECK(url.password.empty());

  url = must_parse("redis://redis.example.net:6380/3");
  CHECK(url.address.host == "redis.example.net");
  CHECK(url.address.port == 6380);
  CHECK(url.database == 3);

  url = must_parse("redis://:s3cret@10.0.0.5:6379/1");
  CHECK(url.user.empty());
  CHECK(url.password == "s3cret");
  CHECK(url.database == 1);

  url = must_parse("redis://greylist:p%40ss%3Aword@10.0.0.5/");
  CHECK(url.user == "greylist");
  CHECK(url.password == "p@ss:word");
  CHECK(url.database == 0);

  // A password containing '@' unescaped: the last '@' ends the credentials.
  url = must_parse("redis://:a@b@host");
  CHECK(url.password == "a@b");
  CHECK(url.address.host == "host");

  url = must_parse("redis://[::1]:7000/2");
  CHECK(url.address.host == "::1");
  CHECK(url.address.port == 7000);
  CHECK(url.database == 2);
  CHECK(url.address.to_string() == "[::1]:7000");

  url = must_parse("redis://host?db=4");
  CHECK(url.database == 4);
}

TEST_CASE("unix sockets, with and without credentials and database") {
  RedisUrl url = must_parse("unix:/run/redis/redis-server.sock");
  CHECK(url.kind == RedisUrl::Kind::kUnix);
  CHECK(url.path == "/run/redis/redis-server.sock");
  CHECK(url.database == 0);

  url = must_parse("unix:/run/redis.sock?db=2");
  CHECK(url.path == "/run/redis.sock");
  CHECK(url.database == 2);

  url = must_parse("unix://u:pw@/run/redis.sock?db=5");
  CHECK(url.user == "u");
  CHECK(url.password == "pw");
  CHECK(url.path == "/run/redis.sock");
  CHECK(url.database == 5);
}

TEST_CASE("to_string leaves the password out") {
  CHECK(must_parse("redis://:secret@10.0.0.5:6380/2").to_string() == "redis://10.0.0.5:6380/2");
  CHECK(must_parse("redis://me:secret@host").to_string() == "redis://me@host:6379/0");
  CHECK(must_parse("unix:/run/r.sock?db=1").to_string() == "unix:/run/r.sock?db=1");
}

TEST_CASE("refused forms, each with a reason and never the password") {
  struct Case {
    const char* text;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"rediss://host:6380", "TLS"},
      {"rediss://:topsecret@host", "TLS"},
      {"http://host", "must start with redis:// or unix:"},
      {"topsecret@host", "must start with"},
      {"", "must start with"},
      {"redis://", "no host"},
      {"redis://:6379", "no host"},
      {"redis://host:", "empty port"},
      {"redis://host:0", "port"},
      {"redis://host:65536", "port"},
      {"redis://host:63a79", "port"},
      {"redis://host/-1", "database"},
      {"redis://host/x", "database"},
      {"redis://host?password=x", "unknown parameter"},
      {"redis://::1:6379", "brackets"},
      {"redis://[::1", "missing ']'"},
      {"redis://[::1]x", "junk"},
      {"redis://[host]:1", "IPv6"},
      {"redis://ho st", "not a host"},
      {"redis://user:@host", "a user needs a password"},
      {"redis://:bad%zzescape@host", "escape"},
      {"redis://:bad%4@host", "escape"},
      {"unix:relative/path", "absolute"},
      {"unix:", "absolute"},
      {"unix:/p?db=x", "database"},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    auto url = RedisUrl::parse(c.text);
    REQUIRE_FALSE(url.ok());
    CHECK(url.status().code() == Status::Code::kInvalidArgument);
    CHECK(url.status().message().find(c.reason) != std::string::npos);
    CHECK(url.status().message().find("topsecret") == std::string::npos);
  }
  CHECK_FALSE(RedisUrl::parse("redis://" + std::string(5000, 'a')).ok());
}

TEST_CASE("sentinel lists") {
  auto list = parse_redis_host_ports("127.0.0.1:26379, 10.0.0.2:26380,[::1]:26381");
  REQUIRE(list.ok());
  REQUIRE(list.value().size() == 3);
  CHECK(list.value()[0].to_string() == "127.0.0.1:26379");
  CHECK(list.value()[1].host == "10.0.0.2");
  CHECK(list.value()[1].port == 26380);
  CHECK(list.value()[2].host == "::1");

  auto empty = parse_redis_host_ports("");
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());

  for (const char* bad : {"host", "host:", "host:x", ":26379", "a:1,b", "::1:5"}) {
    CAPTURE(bad);
    auto parsed = parse_redis_host_ports(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().rfind("sentinel list: ", 0) == 0);
  }
  std::string many;
  for (int i = 0; i < 17; ++i) many += "h:" + std::to_string(1000 + i) + ",";
  CHECK_FALSE(parse_redis_host_ports(many).ok());
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
