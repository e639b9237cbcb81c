#include "dns/dns_cache.h"

#include <doctest/doctest.h>

using namespace greylist;
using namespace std::chrono_literals;

namespace {
DnsAnswer listed(std::uint8_t last) { return DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, last}}}; }
}  // namespace

TEST_SUITE("dns_cache") {

TEST_CASE("an answer is kept until it expires") {
  DnsCache cache(10);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  cache.put("a", listed(2), t0 + 60s);
  REQUIRE(cache.get("a", t0 + 59s));
  CHECK(cache.get("a", t0 + 59s)->addresses[0][3] == 2);
  CHECK_FALSE(cache.get("a", t0 + 60s));
  CHECK(cache.size() == 0);  // dropped when met expired
  CHECK_FALSE(cache.get("b", t0));
}

TEST_CASE("replacing an answer") {
  DnsCache cache(10);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  cache.put("a", listed(2), t0 + 10s);
  cache.put("a", DnsAnswer{DnsAnswer::Kind::kNotListed, {}}, t0 + 100s);
  CHECK(cache.size() == 1);
  CHECK(cache.get("a", t0 + 50s)->kind == DnsAnswer::Kind::kNotListed);
}

TEST_CASE("bounded: the least recently used goes first") {
  DnsCache cache(3);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  cache.put("a", listed(1), t0 + 60s);
  cache.put("b", listed(2), t0 + 60s);
  cache.put("c", listed(3), t0 + 60s);
  CHECK(cache.get("a", t0));  // a is now the most recent; b the least
  cache.put("d", listed(4), t0 + 60s);
  CHECK(cache.size() == 3);
  CHECK_FALSE(cache.get("b", t0));
  CHECK(cache.get("a", t0));
  CHECK(cache.get("c", t0));
  CHECK(cache.get("d", t0));
  for (int i = 0; i < 1000; ++i) cache.put("n" + std::to_string(i), listed(5), t0 + 60s);
  CHECK(cache.size() == 3);
}

TEST_CASE("capacity 0 caches nothing") {
  DnsCache cache(0);
  cache.put("a", listed(1), std::chrono::steady_clock::now() + 60s);
  CHECK(cache.size() == 0);
  CHECK_FALSE(cache.get("a", std::chrono::steady_clock::now()));
}

}
