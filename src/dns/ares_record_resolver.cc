// AresRecordResolver: one thread owns the c-ares channel and waits in
// poll() (dns/ares_worker.h); resolve() only takes the lock, looks in the
// cache and queues. Callbacks run without the lock held, so they may call
// resolve() again. See the header for the contract.
#include "greylist/ares_record_resolver.h"

#include <ares.h>
#include <ares_nameser.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "dns/ares_job_runner.h"
#include "dns/dns_record_reply.h"
#include "greylist/log_line.h"
#include "util/log.h"
#include "util/ttl_cache.h"

namespace greylist {
namespace {

using Clock = std::chrono::steady_clock;

// One resolve() call: the records gathered so far, until `pending` is 0 or
// the deadline passes.
struct Job {
  std::vector<DnsRecordQuery> queries;
  std::vector<DnsRecords> answers;  // one per query; kFailed until answered
  std::vector<std::size_t> missing;  // indexes of the queries not answered from the cache
  std::size_t pending = 0;
  DnsRecordResolver::Callback done;
  Clock::time_point deadline;
  bool finished = false;

  void finish() {
    finished = true;
    auto callback = std::move(done);
    callback(std::move(answers));
  }
};

std::string cache_key(const DnsRecordQuery& query) {
  return std::string(dns_record_type_name(query.type)) + ' ' + query.name;
}

int ares_type(DnsRecordType type) {
  switch (type) {
    case DnsRecordType::kTxt: return T_TXT;
    case DnsRecordType::kA: return T_A;
    case DnsRecordType::kAaaa: return T_AAAA;
    case DnsRecordType::kMx: return T_MX;
    case DnsRecordType::kPtr: return T_PTR;
  }
  return T_A;
}

}  // namespace

class AresRecordResolver::Impl final : public AresJobRunner<AresRecordResolver::Impl, Job> {
 public:
  explicit Impl(const AresResolverOptions& options)
      : options_(options), cache_(options.cache_entries), failure_log_(options.failure_log_interval) {}

  ~Impl() { stop_worker(); }

  Status start() { return start_worker(options_.servers, options_.timeout); }
  using AresJobRunner::servers;

  void resolve(std::vector<DnsRecordQuery> queries, Deadline deadline, Callback done) {
    auto job = std::make_shared<Job>();
    job->done = std::move(done);
    job->answers.resize(queries.size());
    job->queries = std::move(queries);
    bool queued = false;
    bool overloaded = false;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      look_in_cache(*job, now);
      overloaded = !job->missing.empty() && this->overloaded(options_.max_pending_lookups);
      if (!job->missing.empty() && !stopping() && !overloaded) {
        job->pending = job->missing.size();
        job->deadline = std::min(deadline, now + options_.timeout);
        push(job);
        queued = true;
      }
    }
    // Once queued, the job is the resolver thread's: this thread must not
    // read it again (it may already be finished).
    if (queued) return wake();
    if (overloaded) {
      overload_log_.log(Severity::kWarning, "SPF DNS: " + std::to_string(options_.max_pending_lookups) +
                                                " lookups pending already; a new one counts as failed");
    }
    job->finish();
  }

  AresRecordResolverStats stats() const {
    std::lock_guard lock(mutex_);
    AresRecordResolverStats stats = stats_;
    stats.cached = cache_.size();
    return stats;
  }

 private:
  struct QueryTag {
    Impl* impl;
    DnsRecordQuery query;
  };
  struct Waiter {
    std::shared_ptr<Job> job;
    std::size_t index;
  };

  // Under the lock: answers what the cache holds, lists the rest in `missing`.
  void look_in_cache(Job& job, Clock::time_point now) {
    for (std::size_t i = 0; i < job.queries.size(); ++i) {
      job.queries[i].name = dns_canonical_name(std::move(job.queries[i].name));
      ++stats_.lookups;
      if (!take_cached(job, i, now)) job.missing.push_back(i);
    }
  }

  // Under the lock: answers query `index` from the cache, if it holds it.
  bool take_cached(Job& job, std::size_t index, Clock::time_point now) {
    auto hit = cache_.find(cache_key(job.queries[index]), now);
    if (!hit) return false;
    ++stats_.cache_hits;
    job.answers[index] = std::move(hit->value);
    job.answers[index].ttl = std::chrono::duration_cast<std::chrono::seconds>(hit->expires - now);
    return true;
  }

  friend class AresJobRunner<Impl, Job>;

  // Resolver thread (AresJobRunner).
  void start_job(const std::shared_ptr<Job>& job) {
    for (const std::size_t index : job->missing) {
      const DnsRecordQuery& query = job->queries[index];
      auto [it, first] = in_flight_.try_emplace(cache_key(query));
      if (first && answered_meanwhile(*job, index)) {
        in_flight_.erase(it);
        continue;
      }
      it->second.push_back(Waiter{job, index});
      if (!first) continue;
      {
        std::lock_guard lock(mutex_);
        ++stats_.queries;
      }
      auto* tag = new QueryTag{this, query};  // owned by the callback
      ares_query(channel(), query.name.c_str(), C_IN, ares_type(query.type), &Impl::on_reply, tag);
    }
    if (job->pending == 0) complete(*job);
  }

  static void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* reply, int length) {
    std::unique_ptr<QueryTag> tag(static_cast<QueryTag*>(arg));
    tag->impl->answered(tag->query, read_dns_records(tag->query.type, status, reply, length), status);
  }

  void answered(const DnsRecordQuery& query, const DnsRecords& records, int status) {
    const std::string key = cache_key(query);
    const bool failed = records.kind == DnsRecords::Kind::kFailed;
    if (status != ARES_ECANCELLED && status != ARES_EDESTRUCTION) {
      {
        std::lock_guard lock(mutex_);
        cache_.put(key, records, Clock::now() + cache_time(records));
        if (failed) ++stats_.failures;
      }
      if (failed) log_failure(query, ares_strerror(status));
    }
    auto node = in_flight_.extract(key);
    if (node.empty()) return;
    for (auto& waiter : node.mapped()) {
      Job& job = *waiter.job;
      if (job.finished) continue;
      job.answers[waiter.index] = records;
      if (--job.pending == 0) complete(job);
    }
  }

  std::chrono::seconds cache_time(const DnsRecords& records) const {
    if (records.kind == DnsRecords::Kind::kFailed) return options_.failure_ttl;
    return std::clamp(records.ttl, options_.min_ttl, options_.max_ttl);
  }

  void log_failure(const DnsRecordQuery& query, std::string_view reason) {
    failure_log_.log(Severity::kWarning, std::string("SPF DNS: lookup of ") + dns_record_type_name(query.type) +
                                             " " + printable(query.name, 128) + " failed (" +
                                             printable(reason, 80) + ") at " +
                                             printable(servers(), 256));
  }

  void expire_job(Job& job) {
    for (const std::size_t index : job.missing) {
      if (job.answers[index].kind == DnsRecords::Kind::kFailed) log_failure(job.queries[index], "no answer in time");
    }
  }

  const AresResolverOptions options_;
  // mutex_ (AresJobRunner's) guards cache_ and stats_ too.
  TtlCache<std::string, DnsRecords> cache_;
  AresRecordResolverStats stats_;
  RateLimitedLog overload_log_{std::chrono::seconds(60)};
  RateLimitedLog failure_log_;

  // The resolver thread's own.
  std::unordered_map<std::string, std::vector<Waiter>> in_flight_;

};

Result<std::unique_ptr<AresRecordResolver>> AresRecordResolver::create(const AresResolverOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (Status status = impl->start(); !status.ok()) return status;
  return std::unique_ptr<AresRecordResolver>(new AresRecordResolver(std::move(impl)));
}

AresRecordResolver::AresRecordResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AresRecordResolver::~AresRecordResolver() = default;

void AresRecordResolver::resolve(std::vector<DnsRecordQuery> queries, Deadline deadline, Callback done) {
  impl_->resolve(std::move(queries), deadline, std::move(done));
}

AresRecordResolverStats AresRecordResolver::stats() const { return impl_->stats(); }
const std::string& AresRecordResolver::servers() const { return impl_->servers(); }

}  // namespace greylist
