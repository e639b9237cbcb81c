// AresJobRunner: what both c-ares resolvers (AresResolver for DNS lists,
// AresRecordResolver for SPF) do around their lookups: callers queue jobs
// under the lock, the resolver thread (an AresWorker) starts them, ends
// those whose deadline passed, and at stop finishes whatever is left.
//
// A Job has `std::chrono::steady_clock::time_point deadline`, `std::size_t
// pending` (its queries not answered yet), `bool finished` and `void
// finish()` (sets finished, calls the caller back).
// Derived (CRTP) provides, for the resolver thread:
//   void start_job(std::shared_ptr<Job>)  sends the job's queries (asking
//                                          answered_meanwhile() first for
//                                          each one no query is in flight for);
//   void expire_job(Job&)                  its deadline passed: logs what
//                                          did not come (the runner then
//                                          completes it);
// and, with mutex_ held, for resolve() and answered_meanwhile():
//   bool take_cached(Job&, Item, steady_clock::time_point now)
//                                          answers the job's query `Item`
//                                          (however Derived names one) from
//                                          the cache if it holds it, counting
//                                          a cache hit; whether it did.
// Derived's destructor must call stop_worker() first: the thread calls
// Derived's members.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dns/ares_worker.h"
#include "greylist/status.h"

namespace greylist {

template <typename Derived, typename Job>
class AresJobRunner {
 protected:
  AresJobRunner() = default;
  ~AresJobRunner() = default;

  Status start_worker(const std::vector<std::string>& servers, std::chrono::milliseconds timeout) {
    AresWorker::Hooks hooks;
    hooks.next_deadline_ms = [this] { return next_deadline_ms(); };
    hooks.start_queued = [this] { return start_queued(); };
    hooks.expire = [this] { expire(); };
    hooks.drain = [this] { drain(); };
    return worker_.start(servers, timeout, std::move(hooks));
  }

  void stop_worker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    worker_.wake();
    worker_.join();
  }

  // With mutex_ held: whether a job may be queued now (not stopping, fewer
  // than `max_pending` waiting), and queuing it (then wake() unlocked).
  bool stopping() const { return stopping_; }
  bool overloaded(std::size_t max_pending) const { return queued_jobs_ >= max_pending; }
  void push(std::shared_ptr<Job> job) {
    queue_.push_back(std::move(job));
    ++queued_jobs_;
  }
  void wake() const { worker_.wake(); }

  // Resolver thread: finishes a queued job.
  void complete(Job& job) {
    {
      std::lock_guard lock(mutex_);
      --queued_jobs_;
    }
    job.finish();
  }

  // Resolver thread, from start_job(): whether another job's query for
  // `item` came back after resolve() missed the cache and before this job
  // started. Then the job takes the answer from the cache, one fewer is
  // pending, and `item` is not asked again.
  template <typename Item>
  bool answered_meanwhile(Job& job, const Item& item) {
    {
      std::lock_guard lock(mutex_);
      if (!derived().take_cached(job, item, std::chrono::steady_clock::now())) return false;
    }
    --job.pending;
    return true;
  }

  ares_channel channel() const { return worker_.channel(); }
  // AresWorker::servers(): for the failure lines, and the owner's servers().
  const std::string& servers() const { return worker_.servers(); }

  mutable std::mutex mutex_;  // guards the queue and whatever Derived says

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }

  // Milliseconds until the nearest deadline of a started job (at most 1 s).
  long long next_deadline_ms() const {
    const auto now = std::chrono::steady_clock::now();
    long long ms = 1000;
    for (const auto& job : active_) {
      if (job->finished) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(job->deadline - now).count();
      ms = std::min<long long>(ms, std::max<long long>(left, 0));
    }
    return ms;
  }

  bool start_queued() {
    std::vector<std::shared_ptr<Job>> started;
    bool stopping = false;
    {
      std::lock_guard lock(mutex_);
      started.swap(queue_);
      stopping = stopping_;
    }
    for (auto& job : started) {
      derived().start_job(job);
      active_.push_back(std::move(job));
    }
    return stopping;
  }

  void expire() {
    const auto now = std::chrono::steady_clock::now();
    for (auto& job : active_) {
      if (job->finished || job->deadline > now) continue;
      derived().expire_job(*job);
      complete(*job);
    }
    std::erase_if(active_, [](const auto& job) { return job->finished; });
  }

  // After c-ares cancelled its queries (whose callbacks finished their jobs).
  void drain() {
    for (auto& job : active_) {
      if (!job->finished) complete(*job);
    }
    active_.clear();
  }

  std::vector<std::shared_ptr<Job>> queue_;  // mutex_
  std::size_t queued_jobs_ = 0;              // mutex_: queued and not finished
  bool stopping_ = false;                    // mutex_
  std::vector<std::shared_ptr<Job>> active_;  // resolver thread
  AresWorker worker_;
};

}  // namespace greylist
