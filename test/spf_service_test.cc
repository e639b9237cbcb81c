// SpfService: nothing without the option; the pooling it gives the front
// ends; its checker's counters before, while and after it runs.
#include "spf/spf_service.h"

#include <doctest/doctest.h>

using namespace greylist;

namespace {

// Nothing answers there (the discard port on loopback): a check's lookups
// fail or time out, which the tests do not look at.
AresResolverOptions unused_server() {
  AresResolverOptions options;
  options.servers = {"127.0.0.1:9"};
  return options;
}

}  // namespace

TEST_SUITE("spf_service") {

TEST_CASE("off: no checker, no counters") {
  SpfService spf;
  REQUIRE(spf.start(false, unused_server()).ok());
  CHECK(spf.pooling().checker == nullptr);
  CHECK_FALSE(spf.checker_stats().has_value());
}

TEST_CASE("on: the checker's counters, kept after stop(); the servers named for the warnings") {
  SpfService spf;
  REQUIRE(spf.start(true, unused_server()).ok());
  const SpfPooling pooling = spf.pooling();
  REQUIRE(pooling.checker != nullptr);
  CHECK(pooling.dns_servers == "127.0.0.1:9");
  // Counted whatever its verdict (this one reaches no server).
  pooling.checker->check_and_wait(
      SpfIdentity::mail_from(*IpAddress::parse("192.0.2.1"), "a@example.test", "mx.example.test"),
      std::chrono::milliseconds(50));
  const auto running = spf.checker_stats();
  REQUIRE(running.has_value());
  CHECK(running->checks == 1);
  spf.stop();
  CHECK(spf.pooling().checker == nullptr);
  const auto stopped = spf.checker_stats();
  REQUIRE(stopped.has_value());
  CHECK(stopped->checks == 1);
}

}  // TEST_SUITE
