// SpfChecker: each check is a chain of resolve() calls, one per step of its
// SpfEvaluation. A resolver may answer on the calling thread (cache hits):
// then the loop in advance() takes the next step itself instead of
// recursing, so a long chain of cached answers cannot grow the stack.
#include "greylist/spf_checker.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "util/ttl_cache.h"

namespace greylist {
namespace {

using Clock = std::chrono::steady_clock;

struct Pending {
  explicit Pending(SpfIdentity identity) : evaluation(std::move(identity)) {}
  SpfEvaluation evaluation;
  Clock::time_point deadline;
  SpfChecker::Callback done;
  std::string key;     // in the verdict cache
  bool probe = false;  // the check of a probe address: never probed itself
};

std::string cache_key(const SpfIdentity& identity) {
  return dns_canonical_name(identity.domain) + ' ' + identity.client.to_string();
}

}  // namespace

class SpfChecker::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(DnsRecordResolver& resolver, SpfCheckerOptions options)
      : resolver_(resolver), options_(options), cache_(options.cache_entries) {}

  void check(SpfIdentity identity, Callback done) {
    start(std::move(identity), Clock::now() + options_.timeout, false, std::move(done));
  }

  SpfCheckerStats stats() const {
    std::lock_guard lock(mutex_);
    SpfCheckerStats stats = stats_;
    stats.cached = cache_.size();
    return stats;
  }

 private:
  void start(SpfIdentity identity, Clock::time_point deadline, bool probe, Callback done) {
    auto pending = std::make_shared<Pending>(std::move(identity));
    pending->key = cache_key(pending->evaluation.identity());
    pending->done = std::move(done);
    pending->deadline = deadline;
    pending->probe = probe;
    std::optional<SpfVerdict> cached;
    {
      std::lock_guard lock(mutex_);
      ++(probe ? stats_.probes : stats_.checks);
      cached = cache_.get(pending->key, Clock::now());
      if (cached) ++stats_.cache_hits;
    }
    if (cached) return pending->done(std::move(*cached));
    advance(std::move(pending));
  }

  void advance(std::shared_ptr<Pending> pending) {
    for (;;) {
      SpfEvaluation::Step step = pending->evaluation.step();
      if (step.verdict) return finish(*pending, std::move(*step.verdict));
      if (Clock::now() >= pending->deadline) return time_out(*pending);
      {
        std::lock_guard lock(mutex_);
        ++stats_.dns_rounds;
      }
      // 0: resolve() running; 1: answered inside it; 2: it returned first.
      auto state = std::make_shared<std::atomic<int>>(0);
      auto queries = step.queries;
      resolver_.resolve(std::move(step.queries), pending->deadline,
                        [self = shared_from_this(), pending, queries = std::move(queries),
                         state](std::vector<DnsRecords> records) {
                          for (std::size_t i = 0; i < queries.size() && i < records.size(); ++i) {
                            pending->evaluation.answer(queries[i], std::move(records[i]));
                          }
                          int running = 0;
                          if (state->compare_exchange_strong(running, 1)) return;
                          self->advance(pending);
                        });
      int running = 0;
      if (state->compare_exchange_strong(running, 2)) return;  // answers come later
    }
  }

  void time_out(Pending& pending) {
    {
      std::lock_guard lock(mutex_);
      ++stats_.timeouts;
    }
    SpfVerdict verdict;
    verdict.result = SpfResult::kTemperror;
    verdict.reason = "DNS timeout (" + std::to_string(options_.timeout.count()) + " ms)";
    finish(pending, std::move(verdict));
  }

  void finish(Pending& pending, SpfVerdict verdict) {
    if (!pending.probe && options_.probe_passes && spf_pass_needs_probe(verdict)) {
      return probe(pending, std::move(verdict));
    }
    remember(pending.key, verdict);
    auto done = std::move(pending.done);
    done(std::move(verdict));
  }

  // The same check for the probe address, by the same deadline; `passed`
  // completes with its result (and is cached) when it comes.
  void probe(Pending& pending, SpfVerdict passed) {
    SpfIdentity identity = pending.evaluation.identity();
    identity.client = spf_probe_address(identity.client.family());
    start(std::move(identity), pending.deadline, true,
          [self = shared_from_this(), key = pending.key, done = std::move(pending.done),
           passed = std::move(passed)](SpfVerdict probed) mutable {
            passed.probe = probed.result;
            passed.ttl = std::min(passed.ttl, probed.ttl);
            passed.identity_macros = passed.identity_macros || probed.identity_macros;
            // A probe that failed is asked again next time.
            if (probed.result != SpfResult::kTemperror) self->remember(key, passed);
            done(std::move(passed));
          });
  }

  void remember(const std::string& key, const SpfVerdict& verdict) {
    if (verdict.result == SpfResult::kTemperror || verdict.identity_macros) return;
    const auto ttl = std::clamp(verdict.ttl, options_.min_ttl, options_.max_ttl);
    std::lock_guard lock(mutex_);
    cache_.put(key, verdict, Clock::now() + ttl);
  }

  DnsRecordResolver& resolver_;
  const SpfCheckerOptions options_;
  mutable std::mutex mutex_;  // guards cache_, stats_
  TtlCache<std::string, SpfVerdict> cache_;
  SpfCheckerStats stats_;
};

SpfChecker::SpfChecker(DnsRecordResolver& resolver, SpfCheckerOptions options)
    : impl_(std::make_shared<Impl>(resolver, options)) {}
SpfChecker::~SpfChecker() = default;

void SpfChecker::check(SpfIdentity identity, Callback done) { impl_->check(std::move(identity), std::move(done)); }

SpfVerdict SpfChecker::check_and_wait(SpfIdentity identity, std::chrono::milliseconds wait) {
  // Shared with the callback, which may run after this function returned.
  struct Waiter {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<SpfVerdict> verdict;
  };
  auto waiter = std::make_shared<Waiter>();
  check(std::move(identity), [waiter](SpfVerdict verdict) {
    std::lock_guard lock(waiter->mutex);
    waiter->verdict = std::move(verdict);
    waiter->ready.notify_all();
  });
  std::unique_lock lock(waiter->mutex);
  if (waiter->ready.wait_for(lock, wait, [&] { return waiter->verdict.has_value(); })) return *waiter->verdict;
  SpfVerdict verdict;
  verdict.result = SpfResult::kTemperror;
  verdict.reason = "no verdict in time (" + std::to_string(wait.count()) + " ms)";
  return verdict;
}

SpfCheckerStats SpfChecker::stats() const { return impl_->stats(); }

}  // namespace greylist
