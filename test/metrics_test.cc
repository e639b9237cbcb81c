#include "daemon/metrics.h"

#include <doctest/doctest.h>

#include <optional>

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
  GreylistConfig config;
  config.dynamic_delay = 0;  // the unnamed client passes after --delay
  Greylister greylister(config, store, clock);
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
  Request authenticated = policy_request("e@bar.test");
  authenticated.front_end = "milter";
  authenticated.sasl_username = "alice";
  greylister.decide(authenticated);  // SMTP AUTH: no store read, no error
  metrics.on_whitelist_reload(true);
  metrics.on_whitelist_reload(false);
  metrics.on_whitelist_reload(true);

  const std::string text = metrics.render();
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="greylist",reason="new"} 2)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="greylist",reason="early-retry"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="pass",reason="triplet found"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="milter",action="greylist",reason="new"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="error",reason="error"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="milter",action="whitelisted",reason="SMTP AUTH"} 1)"));
  CHECK(has_line(text, "greylist_store_errors_total 1"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_count{front_end="policy"} 5)"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_bucket{front_end="policy",le="+Inf"} 5)"));
  CHECK(has_line(text, R"(greylist_decision_duration_seconds_count{front_end="milter"} 2)"));
  CHECK(has_line(text, R"(greylist_whitelist_reloads_total{result="ok"} 2)"));
  CHECK(has_line(text, R"(greylist_whitelist_reloads_total{result="failed"} 1)"));
  CHECK(has_line(text, R"(greylist_config_reloads_total{result="ok"} 0)"));
  CHECK(has_line(text, "greylist_config_restart_pending 0"));
  CHECK(text.find("# TYPE greylist_decision_duration_seconds histogram") != std::string::npos);
  CHECK(text.find("greylist_database_bytes ") != std::string::npos);
}

TEST_CASE("settings reloads: counted by result; restart-pending is the last valid reload's") {
  Metrics metrics(".");
  metrics.on_config_reload(true, 2);
  metrics.on_config_reload(false, 0);  // an invalid file: what waits still waits
  const std::string text = metrics.render();
  CHECK(has_line(text, R"(greylist_config_reloads_total{result="ok"} 1)"));
  CHECK(has_line(text, R"(greylist_config_reloads_total{result="failed"} 1)"));
  CHECK(has_line(text, "greylist_config_restart_pending 2"));
  metrics.on_config_reload(true, 0);
  CHECK(has_line(metrics.render(), "greylist_config_restart_pending 0"));
}

TEST_CASE("rule decisions: their reasons, matches per rule label, DNS list answers") {
  Metrics metrics(".");
  Decision reject = make_decision(Decision::Action::kReject, Decision::Reason::kRuleBlacklist);
  reject.rule = RuleMatch{};
  reject.rule->rule = RuleRef{"/etc/rules \"x\"", 7, ""};
  reject.rule->action = RuleAction::kBlacklist;
  Decision trap = make_decision(Decision::Action::kGreylist, Decision::Reason::kGreytrap);
  trap.rule = RuleMatch{};
  trap.rule->rule = RuleRef{"/etc/rules", 9, "trap"};
  trap.rule->action = RuleAction::kGreytrap;
  Decision trapped = make_decision(Decision::Action::kGreylist, Decision::Reason::kGreytrap);
  const Request request = policy_request("a@bar.test");
  metrics.on_decision(request, reject, std::chrono::microseconds(5));
  metrics.on_decision(request, trap, std::chrono::microseconds(5));
  metrics.on_decision(request, trap, std::chrono::microseconds(5));
  metrics.on_decision(request, trapped, std::chrono::microseconds(5));  // no rule: not a match
  metrics.on_dns_list_answer("dnswl", DnsAnswer::Kind::kListed);
  metrics.on_dns_list_answer("dnswl", DnsAnswer::Kind::kFailed);
  metrics.on_dns_list_answer("dnswl", DnsAnswer::Kind::kFailed);
  metrics.on_rules_reload(false);

  const std::string text = metrics.render();
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="reject",reason="rule blacklist"} 1)"));
  CHECK(has_line(text, R"(greylist_decisions_total{front_end="policy",action="greylist",reason="greytrap"} 3)"));
  CHECK(has_line(text, R"(greylist_rule_matches_total{rule="/etc/rules \"x\":7",action="blacklist"} 1)"));
  CHECK(has_line(text, R"(greylist_rule_matches_total{rule="trap",action="greytrap"} 2)"));
  CHECK(has_line(text, R"(greylist_dns_list_answers_total{list="dnswl",answer="listed"} 1)"));
  CHECK(has_line(text, R"(greylist_dns_list_answers_total{list="dnswl",answer="not_listed"} 0)"));
  CHECK(has_line(text, R"(greylist_dns_list_answers_total{list="dnswl",answer="failed"} 2)"));
  CHECK(has_line(text, R"(greylist_rules_reloads_total{result="failed"} 1)"));
}

TEST_CASE("rule and list labels are bounded: beyond the limit they count as (other)") {
  Metrics metrics(".");
  const Request request = policy_request("a@bar.test");
  Decision decision = make_decision(Decision::Action::kWhitelisted, Decision::Reason::kRuleWhitelist);
  decision.rule = RuleMatch{};
  decision.rule->action = RuleAction::kWhitelist;
  for (std::size_t i = 0; i < Metrics::kMaxRuleLabels + 5; ++i) {
    decision.rule->rule = RuleRef{"rules", static_cast<int>(i + 1), ""};
    metrics.on_decision(request, decision, std::chrono::microseconds(1));
  }
  for (std::size_t i = 0; i < Metrics::kMaxListLabels + 3; ++i) {
    metrics.on_dns_list_answer("list" + std::to_string(i), DnsAnswer::Kind::kNotListed);
  }
  const std::string text = metrics.render();
  CHECK(has_line(text, R"m(greylist_rule_matches_total{rule="(other)",action="whitelist"} 5)m"));
  CHECK(has_line(text, R"m(greylist_dns_list_answers_total{list="(other)",answer="not_listed"} 3)m"));
  std::size_t rule_lines = 0;
  for (auto at = text.find("\ngreylist_rule_matches_total{"); at != std::string::npos;
       at = text.find("\ngreylist_rule_matches_total{", at + 1)) {
    ++rule_lines;
  }
  CHECK(rule_lines == Metrics::kMaxRuleLabels + 1);
}

TEST_CASE("SPF results (--pool-by-spf) are counted by result, every result rendered") {
  Metrics metrics(".");
  metrics.on_spf_result(SpfResult::kPass);
  metrics.on_spf_result(SpfResult::kPass);
  metrics.on_spf_result(SpfResult::kTemperror);
  const std::string text = metrics.render();
  CHECK(has_line(text, R"(greylist_spf_results_total{result="pass"} 2)"));
  CHECK(has_line(text, R"(greylist_spf_results_total{result="temperror"} 1)"));
  for (const char* result : {"none", "neutral", "fail", "softfail", "permerror"}) {
    CAPTURE(result);
    CHECK(has_line(text, std::string("greylist_spf_results_total{result=\"") + result + "\"} 0"));
  }
}

TEST_CASE("the SPF checker's counters come from its source; not rendered without one or while it is off") {
  Metrics metrics(".");
  const char* const names[] = {"greylist_spf_checks_total", "greylist_spf_probes_total",
                               "greylist_spf_cache_hits_total", "greylist_spf_dns_rounds_total",
                               "greylist_spf_timeouts_total", "greylist_spf_cached_verdicts"};
  for (const char* name : names) CHECK(metrics.render().find(name) == std::string::npos);
  std::optional<SpfCheckerStats> stats;  // --pool-by-spf off
  metrics.set_spf_stats_source([&stats] { return stats; });
  for (const char* name : names) CHECK(metrics.render().find(name) == std::string::npos);
  stats = SpfCheckerStats{};
  stats->checks = 7;
  stats->probes = 3;
  stats->cache_hits = 5;
  stats->dns_rounds = 11;
  stats->timeouts = 2;
  stats->cached = 4;
  const std::string text = metrics.render();
  CHECK(has_line(text, "# TYPE greylist_spf_checks_total counter"));
  CHECK(has_line(text, "greylist_spf_checks_total 7"));
  CHECK(has_line(text, "# TYPE greylist_spf_probes_total counter"));
  CHECK(has_line(text, "greylist_spf_probes_total 3"));
  CHECK(has_line(text, "greylist_spf_cache_hits_total 5"));
  CHECK(has_line(text, "greylist_spf_dns_rounds_total 11"));
  CHECK(has_line(text, "greylist_spf_timeouts_total 2"));
  CHECK(has_line(text, "# TYPE greylist_spf_cached_verdicts gauge"));
  CHECK(has_line(text, "greylist_spf_cached_verdicts 4"));
  for (const char* name : names) {
    CAPTURE(name);
    CHECK(text.find(std::string("# HELP ") + name + " ") != std::string::npos);
  }
}

}  // TEST_SUITE
