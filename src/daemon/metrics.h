// Metrics: counters the daemon keeps for Prometheus (--metrics).
//
// Decisions by front end, action and reason; decision latency histograms;
// store errors; settings, whitelist and rules reloads; the database's size on disk;
// matches per rule and DNS list answers per list; SPF results and the SPF
// checker's counters (--pool-by-spf).
// The counters of every request (and the SPF results) are lock-free
// atomics; those of the rules (only for decisions a rule made or shaped,
// and DNS list lookups) take a mutex. Thread-safe.
//
// Rule and DNS list labels come from the rules file (a rule's id, or
// FILE:LINE; a dnsrbl's NAME), so the file bounds them; reloads can add
// new ones, so at most kMaxRuleLabels (rule, action) pairs and
// kMaxListLabels lists are told apart, the rest counted as "(other)".
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "greylist/decision_observer.h"
#include "greylist/dns_lists.h"
#include "greylist/spf_checker.h"
#include "greylist/spf_pooling.h"

namespace greylist {

class Metrics final : public DecisionObserver, public DnsListObserver, public SpfResultObserver {
 public:
  static constexpr std::size_t kMaxRuleLabels = 1000;
  static constexpr std::size_t kMaxListLabels = 100;

  // `dbdir` is measured (bytes of its files) when the text is rendered.
  explicit Metrics(std::string dbdir);

  void on_decision(const Request& request, const Decision& decision,
                   std::chrono::nanoseconds elapsed) noexcept override;
  void on_whitelist_reload(bool ok) noexcept;
  void on_rules_reload(bool ok) noexcept;
  // A settings reload (SIGHUP): whether the file was valid, and how many
  // changed restart-only settings now wait for a restart (0 when invalid).
  void on_config_reload(bool ok, std::size_t restart_pending) noexcept;
  void on_dns_list_answer(std::string_view list, DnsAnswer::Kind kind) noexcept override;
  void on_spf_result(SpfResult result) noexcept override;
  // Where render() reads the SPF checker's counters (SpfService::
  // checker_stats); while it gives nullopt (--pool-by-spf off) they are not
  // rendered. Call before render() can run (before the metrics server
  // starts); `source` must be thread-safe and outlive every render().
  using SpfStatsSource = std::function<std::optional<SpfCheckerStats>()>;
  void set_spf_stats_source(SpfStatsSource source);

  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

  // The reason label of a decision, from its reason kind without the
  // details ("early-retry", "pool", "client whitelist"..., "error" for any
  // Action::kError), so the label set stays small.
  static std::string reason_label(const Decision& decision);

 private:
  static constexpr std::size_t kFrontEnds = 3;  // policy, milter, other
  static constexpr std::size_t kReasons = 14;
  static constexpr std::size_t kBuckets = 14;   // the last one is +Inf
  static constexpr std::size_t kSpfResults = 7;  // SpfResult's values
  static constexpr std::array<double, kBuckets - 1> kBucketSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

  struct Histogram {
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_nanoseconds{0};
  };

  std::string dbdir_;
  std::chrono::system_clock::time_point started_;
  std::array<std::array<std::atomic<std::uint64_t>, kReasons>, kFrontEnds> decisions_{};
  std::array<Histogram, kFrontEnds> latency_{};
  std::atomic<std::uint64_t> store_errors_{0};
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  std::atomic<std::uint64_t> rules_reloads_ok_{0};
  std::atomic<std::uint64_t> rules_reloads_failed_{0};
  std::atomic<std::uint64_t> config_reloads_ok_{0};
  std::atomic<std::uint64_t> config_reloads_failed_{0};
  std::atomic<std::uint64_t> restart_pending_{0};
  std::array<std::atomic<std::uint64_t>, kSpfResults> spf_results_{};
  SpfStatsSource spf_stats_;

  void count_rule_match(const RuleMatch& match) noexcept;
  // SIGHUP: whitelist and settings reloads.
  void render_reloads(std::ostream& out) const;
  void render_rules(std::ostream& out) const;
  void render_spf(std::ostream& out) const;

  mutable std::mutex rules_mutex_;
  // Guarded by rules_mutex_: matches by (rule label, action); answers by
  // list, indexed by DnsAnswer::Kind.
  std::map<std::pair<std::string, std::string>, std::uint64_t> rule_matches_;
  std::map<std::string, std::array<std::uint64_t, 3>, std::less<>> list_answers_;
};

}  // namespace greylist
