// load_rules() and reload_rules(): the daemon's rules file at start and on
// SIGHUP, without a daemon.
#include "daemon/rules_reload.h"

#include <doctest/doctest.h>

#include <fstream>

#include "store/memory_store.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

using namespace greylist;

namespace {

struct Fixture {
  testing::TempDir dir{"greylist-rules-reload"};
  std::string path = dir.file("rules");
  MemoryStore store;
  testing::FakeClock clock;
  Greylister greylister{GreylistConfig{}, store, clock};
  Metrics metrics{"."};
  LazyResolver resolver{AresResolverOptions{{"127.0.0.1:53"}}};

  void write(const std::string& text) const { std::ofstream(path) << text; }
  RulesOptions options(bool optional = false) const {
    RulesOptions o;
    o.file = path;
    o.optional = optional;
    return o;
  }
};

}  // namespace

TEST_SUITE("rules_reload") {

TEST_CASE("load_rules: none without a file, an absent default, FILE:LINE for an invalid file") {
  Fixture f;
  RulesOptions none;
  auto loaded = load_rules(none);
  REQUIRE(loaded.ok());
  CHECK(loaded.value() == nullptr);
  loaded = load_rules(f.options(/*optional=*/true));  // the default path, absent
  REQUIRE(loaded.ok());
  CHECK(loaded.value() == nullptr);
  loaded = load_rules(f.options());  // named by --rules: must exist
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().rfind(f.path + ": ", 0) == 0);

  f.write("racl whitelist addr 192.0.2.1\nracl greylist frobnicate\n");
  loaded = load_rules(f.options(true));
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
  CHECK(loaded.status().message().rfind(f.path + ":2: ", 0) == 0);
}

TEST_CASE("reload_rules: valid rules are swapped in, invalid ones keep the old, counted") {
  Fixture f;
  f.write("racl \"a\" whitelist addr 192.0.2.1\n");
  REQUIRE(reload_rules(f.options(), f.greylister, f.resolver, f.metrics));
  const auto first = f.greylister.rules();
  REQUIRE(first != nullptr);
  CHECK(first->rule_count() == 1);
  CHECK_FALSE(f.resolver.started());  // no DNS list: no resolver

  f.write("racl \"a\" whitelist addr 192.0.2.1\nbogus line\n");
  CHECK_FALSE(reload_rules(f.options(), f.greylister, f.resolver, f.metrics));
  CHECK(f.greylister.rules() == first);

  f.write("dnsrbl \"bl\" bl.test 127.0.0.2\nracl blacklist dnsrbl \"bl\"\nracl whitelist addr 192.0.2.9\n");
  REQUIRE(reload_rules(f.options(), f.greylister, f.resolver, f.metrics));
  CHECK(f.greylister.rules()->rule_count() == 2);
  CHECK(f.resolver.started());  // the rules name a DNS list now

  // An absent default file: no rules any more.
  std::remove(f.path.c_str());
  REQUIRE(reload_rules(f.options(true), f.greylister, f.resolver, f.metrics));
  CHECK(f.greylister.rules() == nullptr);
  const std::string text = f.metrics.render();
  CHECK(text.find("greylist_rules_reloads_total{result=\"ok\"} 3\n") != std::string::npos);
  CHECK(text.find("greylist_rules_reloads_total{result=\"failed\"} 1\n") != std::string::npos);
  f.resolver.stop();
}

}  // TEST_SUITE
