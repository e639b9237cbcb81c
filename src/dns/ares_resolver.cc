// AresResolver: one thread owns the c-ares channel and waits in poll() on
// its sockets and an eventfd that resolve() writes to; resolve() itself
// only takes the lock, looks in the cache and queues. See the header for
// the contract.
#include "greylist/ares_resolver.h"

#include <ares.h>
#include <ares_nameser.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "dns/ares_job_runner.h"
#include "dns/dns_cache.h"
#include "dns/dns_failure_log.h"
#include "dns/dns_reply.h"
#include "util/log.h"

namespace greylist {
namespace {

using Clock = std::chrono::steady_clock;

// One resolve() call: the answers gathered so far, until `pending` is 0 or
// the deadline passes.
struct Job {
  DnsAnswers answers;
  std::vector<std::string> missing;  // names not answered from the cache
  std::size_t pending = 0;
  DnsResolver::Callback done;
  Clock::time_point deadline;
  bool finished = false;

  // Calls back with the answers; names not answered are kFailed.
  void finish() {
    finished = true;
    for (const std::string& name : missing) answers.try_emplace(name);  // kFailed
    auto callback = std::move(done);
    callback(std::move(answers));
  }
};

std::string canonical_name(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

class AresResolver::Impl final : public AresJobRunner<AresResolver::Impl, Job> {
 public:
  explicit Impl(const AresResolverOptions& options)
      : options_(options), cache_(options.cache_entries), failure_log_(options.failure_log_interval) {}

  ~Impl() { stop_worker(); }

  Status start() { return start_worker(options_.servers, options_.timeout); }
  using AresJobRunner::servers;

  void resolve(std::vector<std::string> names, Callback done) {
    auto job = std::make_shared<Job>();
    job->done = std::move(done);
    // Once queued, the job is the resolver thread's: this thread must not
    // read it again (it may already be finished).
    bool queued = false;
    bool overloaded = false;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      for (std::string& raw : names) {
        std::string name = canonical_name(std::move(raw));
        if (job->answers.count(name) != 0 ||
            std::find(job->missing.begin(), job->missing.end(), name) != job->missing.end()) {
          continue;
        }
        ++stats_.lookups;
        if (!take_cached(*job, name, now)) job->missing.push_back(std::move(name));
      }
      overloaded = !job->missing.empty() && this->overloaded(options_.max_pending_lookups);
      if (!job->missing.empty() && !stopping() && !overloaded) {
        job->pending = job->missing.size();
        job->deadline = now + options_.timeout;
        push(job);
        queued = true;
      }
    }
    if (!queued) {
      if (overloaded) {
        overload_log_.log(Severity::kWarning,
                          "DNS lists: " + std::to_string(options_.max_pending_lookups) +
                              " lookups pending already; a new one counts as not listed");
      }
      return job->finish();
    }
    wake();
  }

  AresResolverStats stats() const {
    std::lock_guard lock(mutex_);
    AresResolverStats stats = stats_;
    stats.cached = cache_.size();
    return stats;
  }

 private:
  struct QueryTag {
    Impl* impl;
    std::string name;
  };

  friend class AresJobRunner<Impl, Job>;

  // Resolver thread (AresJobRunner).
  void start_job(const std::shared_ptr<Job>& job) {
    for (const std::string& name : job->missing) {
      auto [it, first] = in_flight_.try_emplace(name);
      if (first && answered_meanwhile(*job, name)) {
        in_flight_.erase(it);
        continue;
      }
      it->second.push_back(job);
      if (!first) continue;
      {
        std::lock_guard lock(mutex_);
        ++stats_.queries;
      }
      auto* tag = new QueryTag{this, name};  // owned by the callback
      ares_query(channel(), name.c_str(), C_IN, T_A, &Impl::on_reply, tag);
    }
    if (job->pending == 0) complete(*job);
  }

  // Under the lock: answers `name` from the cache, if it holds it.
  bool take_cached(Job& job, const std::string& name, Clock::time_point now) {
    auto cached = cache_.get(name, now);
    if (!cached) return false;
    ++stats_.cache_hits;
    job.answers[name] = std::move(*cached);
    return true;
  }

  static void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* reply, int length) {
    std::unique_ptr<QueryTag> tag(static_cast<QueryTag*>(arg));
    tag->impl->answered(tag->name, read_dns_reply(status, reply, length), status);
  }

  void answered(const std::string& name, DnsReply reply, int status) {
    const bool failed = reply.answer.kind == DnsAnswer::Kind::kFailed;
    if (status != ARES_ECANCELLED && status != ARES_EDESTRUCTION) {
      std::lock_guard lock(mutex_);
      cache_.put(name, reply.answer, Clock::now() + cache_time(reply));
      if (failed) ++stats_.failures;
    }
    if (failed && status != ARES_ECANCELLED && status != ARES_EDESTRUCTION) {
      failure_log_.failed(name, ares_strerror(status), servers());
    }
    auto node = in_flight_.extract(name);
    if (node.empty()) return;
    for (auto& job : node.mapped()) {
      if (job->finished) continue;
      job->answers[name] = reply.answer;
      if (--job->pending == 0) complete(*job);
    }
  }

  std::chrono::seconds cache_time(const DnsReply& reply) const {
    if (reply.answer.kind == DnsAnswer::Kind::kFailed) return options_.failure_ttl;
    const auto ttl = reply.ttl.value_or(options_.min_ttl);
    return std::clamp(ttl, options_.min_ttl, options_.max_ttl);
  }

  void expire_job(Job& job) {
    for (const std::string& name : job.missing) {
      if (job.answers.count(name) == 0) failure_log_.failed(name, "no answer in time", servers());
    }
  }

  const AresResolverOptions options_;
  // mutex_ (AresJobRunner's) guards cache_ and stats_ too.
  DnsCache cache_;
  AresResolverStats stats_;
  RateLimitedLog overload_log_{std::chrono::seconds(60)};

  // The resolver thread's own.
  std::unordered_map<std::string, std::vector<std::shared_ptr<Job>>> in_flight_;
  DnsFailureLog failure_log_;
};

Result<std::unique_ptr<AresResolver>> AresResolver::create(const AresResolverOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (Status status = impl->start(); !status.ok()) return status;
  return std::unique_ptr<AresResolver>(new AresResolver(std::move(impl)));
}

AresResolver::AresResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AresResolver::~AresResolver() = default;

void AresResolver::resolve(std::vector<std::string> names, Callback done) {
  impl_->resolve(std::move(names), std::move(done));
}

AresResolverStats AresResolver::stats() const { return impl_->stats(); }
const std::string& AresResolver::servers() const { return impl_->servers(); }

}  // namespace greylist
