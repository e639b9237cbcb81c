// LazyResolver: no AresResolver before start(), one after, none after stop().
#include "dns/lazy_resolver.h"

#include <doctest/doctest.h>

#include <optional>

#include "support/dnsmasq_server.h"

using namespace greylist;
using namespace std::chrono_literals;
using greylist::testing::DnsmasqServer;
using greylist::testing::DnsmasqZones;

namespace {

DnsmasqZones zones() {
  DnsmasqZones z;
  z.records = {{"2.0.0.127.listed.test", "127.0.0.2"}};
  z.local_zones = {"listed.test"};
  z.silent_zones = {"silent.test"};
  return z;
}

AresResolverOptions options_for(const DnsmasqServer& server) {
  AresResolverOptions options;
  options.servers = {server.address()};
  options.timeout = 3000ms;
  return options;
}

// resolve() whose callback ran before it returned: its answers.
std::optional<DnsAnswers> answered_at_once(DnsResolver& resolver, std::vector<std::string> names) {
  std::optional<DnsAnswers> got;
  resolver.resolve(std::move(names), [&got](DnsAnswers answers) { got = std::move(answers); });
  return got;
}

}  // namespace

TEST_SUITE("lazy_resolver") {

TEST_CASE("before start(): every name kFailed, at once, without a resolver") {
  DnsmasqServer server(zones());
  LazyResolver resolver(options_for(server));
  CHECK_FALSE(resolver.started());
  const auto answers = answered_at_once(resolver, {"2.0.0.127.listed.test", "x.listed.test"});
  REQUIRE(answers);
  CHECK(answers->size() == 2);
  CHECK(answers->at("2.0.0.127.listed.test").kind == DnsAnswer::Kind::kFailed);
  CHECK(server.queries_for("2.0.0.127.listed.test") == 0);
}

TEST_CASE("after start(): answers from the server; start() again changes nothing") {
  DnsmasqServer server(zones());
  LazyResolver resolver(options_for(server));
  REQUIRE(resolver.start().ok());
  REQUIRE(resolver.start().ok());
  CHECK(resolver.started());
  const auto answers = resolve_and_wait(resolver, {"2.0.0.127.listed.test", "3.0.0.127.listed.test"}, 5s);
  CHECK(answers.at("2.0.0.127.listed.test").kind == DnsAnswer::Kind::kListed);
  CHECK(answers.at("3.0.0.127.listed.test").kind == DnsAnswer::Kind::kNotListed);
}

TEST_CASE("stop(): a pending lookup is answered kFailed before it returns; no start again") {
  DnsmasqServer server(zones());
  LazyResolver resolver(options_for(server));
  REQUIRE(resolver.start().ok());
  std::optional<DnsAnswers> pending;
  resolver.resolve({"2.0.0.127.silent.test"}, [&pending](DnsAnswers answers) { pending = std::move(answers); });
  CHECK_FALSE(pending);
  const auto before = std::chrono::steady_clock::now();
  resolver.stop();
  CHECK(std::chrono::steady_clock::now() - before < 1000ms);
  REQUIRE(pending);
  CHECK(pending->at("2.0.0.127.silent.test").kind == DnsAnswer::Kind::kFailed);
  CHECK_FALSE(resolver.started());
  CHECK_FALSE(resolver.start().ok());
  const auto after = answered_at_once(resolver, {"2.0.0.127.listed.test"});
  REQUIRE(after);
  CHECK(after->at("2.0.0.127.listed.test").kind == DnsAnswer::Kind::kFailed);
}

}  // TEST_SUITE
