// Greylister::set_config(): the settings a running daemon may change on
// SIGHUP take effect for the next decision; those that decide keys cannot.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "greylist/greylister.h"
#include "greylist/key_layout.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"

using namespace greylist;
using greylist::testing::FakeClock;
using Action = Decision::Action;

namespace {

Request request(const std::string& sender = "a@foo.test", const std::string& client = "203.0.113.7",
                const std::string& name = "mail.foo.test") {
  Request r;
  r.client_address = client;
  r.client_name = name;
  r.sender = sender;
  r.recipient = "b@bar.test";
  return r;
}

GreylistConfig base() {
  GreylistConfig config;
  config.delay = 300;
  config.dynamic_delay = 0;
  return config;
}

struct Fixture {
  MemoryStore store;
  FakeClock clock;
  Greylister greylister{base(), store, clock};
};

}  // namespace

TEST_SUITE("greylister_settings") {

TEST_CASE_FIXTURE(Fixture, "a new delay decides the next request, also of a triplet seen before") {
  REQUIRE(greylister.decide(request()).seconds_left == 300);
  GreylistConfig shorter = base();
  shorter.delay = 60;
  REQUIRE(greylister.set_config(shorter).ok());
  CHECK(greylister.config().delay == 60);
  CHECK(greylister.decide(request("c@foo.test")).seconds_left == 60);
  clock.advance(61);  // the first triplet waited 61 s of the old 300
  CHECK(greylister.decide(request()).action == Action::kPass);
}

TEST_CASE_FIXTURE(Fixture, "retry window, dynamic delay and auto-whitelist thresholds change too") {
  GreylistConfig next = base();
  next.dynamic_delay = 1200;
  next.retry_window = 3600;
  next.auto_whitelist_clients = 1;
  REQUIRE(greylister.set_config(next).ok());
  // A client without a name waits --dynamic-delay.
  CHECK(greylister.decide(request("a@foo.test", "198.51.100.9", "unknown")).seconds_left == 1200);
  // A retry after the new window starts over.
  REQUIRE(greylister.decide(request()).action == Action::kGreylist);
  clock.advance(3601);
  CHECK(greylister.decide(request()).action == Action::kGreylist);
  // One pass whitelists the client (threshold 1).
  clock.advance(300);
  REQUIRE(greylister.decide(request()).action == Action::kPass);
  const Decision next_sender = greylister.decide(request("z@foo.test"));
  CHECK(next_sender.action == Action::kWhitelisted);
}

TEST_CASE_FIXTURE(Fixture, "a change to a setting keys depend on is refused, and nothing changes") {
  const std::vector<std::pair<const char*, void (*)(GreylistConfig&)>> keying = {
      {"--lookup-by-host", [](GreylistConfig& c) { c.lookup_by_host = true; }},
      {"--ipv4cidr", [](GreylistConfig& c) { c.ipv4_cidr = 32; }},
      {"--ipv6cidr", [](GreylistConfig& c) { c.ipv6_cidr = 48; }},
      {"--privacy", [](GreylistConfig& c) { c.privacy = true; }},
      {"--pool-by-domain", [](GreylistConfig& c) { c.pool_by_domain = false; }},
      {"--pool-dynamic-names", [](GreylistConfig& c) { c.pool_dynamic_names = true; }},
      {"--pool-by-spf", [](GreylistConfig& c) { c.pool_by_spf = !c.pool_by_spf; }},
      {"--client-awl-key", [](GreylistConfig& c) { c.client_awl_key = GreylistConfig::ClientAwlKey::kHost; }},
  };
  for (const auto& [option, change] : keying) {
    CAPTURE(option);
    GreylistConfig next = base();
    next.delay = 10;  // would apply, with the keying change refused
    change(next);
    const Status set = greylister.set_config(next);
    CHECK(set.code() == Status::Code::kInvalidArgument);
    CHECK(set.message().find(option) != std::string::npos);
    CHECK(greylister.config().delay == 300);
    CHECK(keying_difference(greylister.config(), base()) == std::nullopt);
  }
  CHECK(greylister.decide(request()).seconds_left == 300);
}

TEST_CASE_FIXTURE(Fixture, "privacy on: the key may not change either") {
  GreylistConfig hashed = base();
  hashed.privacy = true;
  hashed.privacy_key = "secret one";
  Greylister g(hashed, store, clock);
  GreylistConfig next = hashed;
  next.delay = 30;
  CHECK(g.set_config(next).ok());
  next.privacy_key = "secret two";
  CHECK(g.set_config(next).message().find("--privacy-key-file") != std::string::npos);
  CHECK(g.config().privacy_key == "secret one");
}

TEST_CASE_FIXTURE(Fixture, "concurrent decisions while the settings change: each uses one whole set") {
  // Two settings whose delays differ; every decision on a new triplet must
  // report one of them, never a mix or garbage.
  GreylistConfig a = base();
  GreylistConfig b = base();
  b.delay = 900;
  b.retry_window = 7200;
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::atomic<int> decided{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000 && !stop; ++i) {
        const Decision d = greylister.decide(
            request("s" + std::to_string(t) + "-" + std::to_string(i) + "@foo.test"));
        if (d.action != Action::kGreylist || (d.seconds_left != 300 && d.seconds_left != 900)) {
          ++wrong;
        }
        ++decided;
      }
    });
  }
  // Swaps until the threads made most of their decisions (bounded in count).
  for (int round = 0; round < 1'000'000 && decided < 6000; ++round) {
    if (!greylister.set_config(round % 2 == 0 ? b : a).ok()) ++wrong;
    std::this_thread::yield();
  }
  stop = true;
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(decided >= 6000);
}

}  // TEST_SUITE
