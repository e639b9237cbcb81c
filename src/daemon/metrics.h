// Metrics: counters the daemon keeps for Prometheus (--metrics).
//
// Decisions by front end, action and reason; decision latency histograms;
// store errors; whitelist reloads; the database's size on disk. All updates
// are lock-free atomics, cheap enough for every request. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "greylist/decision_observer.h"

namespace greylist {

class Metrics final : public DecisionObserver {
 public:
  // `dbdir` is measured (bytes of its files) when the text is rendered.
  explicit Metrics(std::string dbdir);

  void on_decision(const Request& request, const Decision& decision,
                   std::chrono::nanoseconds elapsed) noexcept override;
  void on_whitelist_reload(bool ok) noexcept;

  // The Prometheus text exposition format (version 0.0.4).
  std::string render() const;

  // The reason label of a decision, from its reason kind without the
  // details ("early-retry", "pool", "client whitelist"..., "error" for any
  // Action::kError), so the label set stays small.
  static std::string reason_label(const Decision& decision);

 private:
  static constexpr std::size_t kFrontEnds = 3;  // policy, milter, other
  static constexpr std::size_t kReasons = 10;
  static constexpr std::size_t kBuckets = 14;   // the last one is +Inf
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
};

}  // namespace greylist
