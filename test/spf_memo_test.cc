// SpfMemo: a policy connection's last SPF verdict, reused for the same
// identity within its window and for nothing else.
#include "spf/spf_memo.h"

#include <doctest/doctest.h>

using namespace greylist;
using namespace std::chrono_literals;

namespace {

SpfIdentity identity(const char* client, const char* sender, const char* helo = "mx.example.com") {
  return SpfIdentity::mail_from(*IpAddress::parse(client), sender, helo);
}

SpfVerdict timeout() {
  SpfVerdict v;
  v.result = SpfResult::kTemperror;
  v.reason = "DNS timeout (1000 ms)";
  return v;
}

}  // namespace

TEST_SUITE("spf_memo") {

TEST_CASE("the same identity within the window gets the verdict, a temperror included") {
  SpfMemo memo;
  const auto t0 = SpfMemo::Clock::now();
  CHECK(memo.find(identity("192.0.2.1", "a@example.com"), t0) == nullptr);
  memo.remember(identity("192.0.2.1", "a@example.com"), timeout(), t0);
  const SpfVerdict* found = memo.find(identity("192.0.2.1", "a@example.com"), t0 + 59s);
  REQUIRE(found != nullptr);
  CHECK(found->result == SpfResult::kTemperror);
  CHECK(found->reason == "DNS timeout (1000 ms)");
  CHECK(memo.find(identity("192.0.2.1", "a@example.com"), t0 + SpfMemo::kWindow) == nullptr);
  // A time before it was remembered (a clock that went back): not reused.
  CHECK(memo.find(identity("192.0.2.1", "a@example.com"), t0 - 1s) == nullptr);
}

TEST_CASE("another client, sender or HELO name is asked again; the last verdict replaces the one before") {
  SpfMemo memo;
  const auto t0 = SpfMemo::Clock::now();
  memo.remember(identity("192.0.2.1", "a@example.com"), timeout(), t0);
  CHECK(memo.find(identity("192.0.2.2", "a@example.com"), t0) == nullptr);
  CHECK(memo.find(identity("192.0.2.1", "b@example.com"), t0) == nullptr);
  CHECK(memo.find(identity("192.0.2.1", "a@example.org"), t0) == nullptr);
  CHECK(memo.find(identity("192.0.2.1", "a@example.com", "other.example.com"), t0) == nullptr);
  SpfVerdict pass;
  pass.result = SpfResult::kPass;
  memo.remember(identity("192.0.2.2", "a@example.com"), pass, t0 + 1s);
  CHECK(memo.find(identity("192.0.2.1", "a@example.com"), t0 + 1s) == nullptr);
  REQUIRE(memo.find(identity("192.0.2.2", "a@example.com"), t0 + 1s) != nullptr);
  CHECK(memo.find(identity("192.0.2.2", "a@example.com"), t0 + 1s)->result == SpfResult::kPass);
}

}  // TEST_SUITE
