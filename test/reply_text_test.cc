#include "greylist/reply_text.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

using namespace greylist;

namespace {
// Runs a test body with TZ=UTC so %d is predictable.
struct UtcZone {
  UtcZone() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};
}  // namespace

TEST_SUITE("reply_text") {

TEST_CASE("greylist text: first %s and %r replaced, postgrey's default") {
  CHECK(format_greylist_text(kDefaultGreylistText, 300, "b@bar.test") ==
        "Greylisted, see http://postgrey.schweikert.ch/help/bar.test.html");
  CHECK(format_greylist_text("wait %s s for %r (%s %r)", 42, "x@Y.test") ==
        "wait 42 s for Y.test (%s %r)");
  CHECK(format_greylist_text("%r", 1, "no-at-sign") == "no-at-sign");
}

TEST_CASE("greylist text: control characters from the peer cannot break the reply line") {
  const std::string text = format_greylist_text("see %r", 1, std::string("a@evil\r\naction=OK\0x", 20));
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find('\0') == std::string::npos);
}

TEST_CASE("header: postgrey-style template, RFC 5322 date") {
  UtcZone utc;
  // 2026-11-25 07:13:15 UTC, a Wednesday.
  CHECK(format_greylist_header(kDefaultHeaderTemplate, 607, "vm", 1795590795) ==
        std::string("X-Greylist: delayed 607 seconds by greylist-milter-") + GREYLIST_VERSION +
            " at vm; Wed, 25 Nov 2026 07:13:15 +0000 (UTC)");
}

TEST_CASE("header split for smfi_insheader") {
  auto [name, value] = split_header("X-Greylist: delayed 5 seconds");
  CHECK(name == "X-Greylist");
  CHECK(value == "delayed 5 seconds");
  auto [n2, v2] = split_header("no colon here");
  CHECK(n2 == "X-Greylist");
  CHECK(v2 == "no colon here");
}

}  // TEST_SUITE
