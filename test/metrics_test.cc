#include "daemon/metrics.h"

#include <doctest/doctest.h>

#include "greylist/greylister.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"

using namespace greylist;

namespace {
Request policy_request(std::string recipient) {
  Request r;
  r.client_address = "203.0.113.7";
  r.sender = "a@foo.test";
  r.recipient = std::move(recipient);
  r.front_end = "policy";
  return r;
}
bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}
}  // namespace

TEST_SUITE("metrics") {

TEST_CASE("reason labels drop the details") {
  Decision d;
  d.action = Decision::Action::kGreylist;
  d.reason = Decision::Reason::kEarlyRetry;
  d.seconds_left = 12;
  CHECK(Metrics::reason_label(d) == "early-retry");
  d.action = Decision::Action::kWhitelisted;
  d.reason = Decision::Reason::kClientWhitelist;
  d.detail = "whitelist_clients:3 .outlook.com";
  CHECK(Metrics::reason_label(d) == "client whitelist");
  d.action = Decision::Action::kPass;
  d.reason = Decision::Reason::kPool;
  d.detail = "outlook.com";
  CHECK(Metrics::reason_label(d) == "pool");
  d.action = Decision::Action::kError;
  d.reason = Decision::Reason::kStoreError;
  d.detail = "database directory . is gone";
  CHECK(Metrics::reason_label(d) == "error");
}

TEST_CASE("decisions are counted by front end, action and reason, with latency") {
  MemoryStore memory;
  testing::FailingStore store(memory);
  testing::FakeClock clock;
  Greylister greylister(GreylistConfig{}, store, clock);
  Metrics metrics(".");
  greylister.set_observer(&metrics);
  greylister.decide(policy_request("a@bar.test"));
  greylister.decide(policy_request("b@bar.test"));
  clock.advance(10);
  greylister.decide(policy_request("a@bar.test"));  // early retry
  clock.advance(290);
  greylister.decide(policy_request("a@bar.test"));
  Request milter = policy_request("c@bar.test");
  milter.front_end = "milter";
  greylister.decide(milter);
  store.fail_reads = true;
  greylister.decide(policy_request("d@bar.test"));
  metrics.on_whitelist_reload(true);
  metrics.on_whitelist_reload(false);
  metrics.on_whitelist_reload(true);

  const std::string text = metrics.render();
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="greylist",reason="new"} 2)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="greylist",reason="early-retry"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="pass",reason="triplet found"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="milter",action="greylist",reason="new"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="error",reason="error"} 1)"));
  CHECK(has_line(text, "greylist_store_errors_total 1"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_count{front_end="policy"} 5)"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_bucket{front_end="policy",le="+Inf"} 5)"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_count{front_end="milter"} 1)"));
  CHECK(has_line(text, R"(greylist_whitelist_reloads_total{result="ok"} 2)"));
  CHECK(has_line(text, R"(greylist_whitelist_reloads_total{result="failed"} 1)"));
  CHECK(text.find("# TYPE greylist_decision_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("greylist_database_bytes ") != std::string::npos);
}

}  // TEST_SUITE
