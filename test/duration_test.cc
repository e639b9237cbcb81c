#include "core/rules/duration.h"

#include <doctest/doctest.h>

using greylist::rules::parse_duration;
using std::chrono::seconds;

TEST_SUITE("rules_duration") {

TEST_CASE("every unit and the bare number of seconds") {
  CHECK(parse_duration("300").value() == seconds(300));
  CHECK(parse_duration("30s").value() == seconds(30));
  CHECK(parse_duration("15m").value() == seconds(900));
  CHECK(parse_duration("2h").value() == seconds(7200));
  CHECK(parse_duration("3d").value() == seconds(3 * 86400));
  CHECK(parse_duration("1w").value() == seconds(7 * 86400));
  CHECK(parse_duration("0").value() == seconds(0));
  CHECK(parse_duration("0s").value() == seconds(0));
}

TEST_CASE("units follow one another") {
  CHECK(parse_duration("1h30m").value() == seconds(5400));
  CHECK(parse_duration("1d12h").value() == seconds(36 * 3600));
  CHECK(parse_duration("1m1s").value() == seconds(61));
}

TEST_CASE("what is not a duration") {
  for (const char* bad : {"", "m", "15x", "1.5h", "-5m", "15 m", "1h30", "h1", "15M", "1hh"}) {
    CAPTURE(bad);
    const auto parsed = parse_duration(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().find("bad duration") != std::string::npos);
  }
}

TEST_CASE("bounded at 366 days, without overflow") {
  CHECK(parse_duration("366d").value() == seconds(366 * 86400));
  CHECK_FALSE(parse_duration("367d").ok());
  CHECK_FALSE(parse_duration("99999999999999999999999").ok());
  CHECK_FALSE(parse_duration("300d300d").ok());
  CHECK_FALSE(parse_duration("60000w").ok());
}

}
