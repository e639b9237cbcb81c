#include "store/redis_pool.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "store/sigpipe_guard.h"

namespace greylist {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

std::string ms_text(milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

}  // namespace

RedisPool::RedisPool(RedisOptions options, std::string description)
    : options_(std::move(options)),
      description_(std::move(description)),
      slack_(std::max(microseconds(1000), duration_cast<microseconds>(options_.timeout) / 50)),
      guard_sigpipe_(!SigpipeGuard::ignored()),
      backoff_(options_.min_backoff) {}

RedisPool::~RedisPool() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

Status RedisPool::all_busy() const {
  return Status::Unavailable("all " + std::to_string(options_.max_connections) +
                             " connections stayed busy for " + ms_text(options_.timeout));
}

Result<std::unique_ptr<RedisConnection>> RedisPool::acquire(TimePoint deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->generation() == generation_) {
        connection->start_call(true);
        return connection;
      }
      --open_;  // from before a failure: probably closed by now
      connection_freed_.notify_one();
    }
    if (down_ && (probing_ || SteadyClock::now() < retry_at_)) {
      return Status::Unavailable("server unavailable (" + last_failure_.message() + ")");
    }
    if (open_ < options_.max_connections) {
      // The time went waiting for a busy pool: no verdict on the server.
      if (SteadyClock::now() >= deadline) return all_busy();
      return open_locked(lock, deadline);
    }
    if (connection_freed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.max_connections) {
      return all_busy();
    }
  }
}

Result<std::unique_ptr<RedisConnection>> RedisPool::open_locked(std::unique_lock<std::mutex>& lock,
                                                                TimePoint deadline) {
  ++open_;
  const bool probe = down_;
  if (probe) probing_ = true;
  lock.unlock();
  auto made = connect(deadline);
  lock.lock();
  if (probe) probing_ = false;
  if (!made.ok()) {
    --open_;
    connection_freed_.notify_one();
    if (made.status().code() == Status::Code::kUnavailable) mark_down_locked(made.status());
    return made.status();
  }
  if (down_) mark_up_locked();
  made.value()->set_generation(generation_);
  made.value()->start_call(false);
  return made;
}

void RedisPool::release(std::unique_ptr<RedisConnection> connection) {
  std::unique_ptr<RedisConnection> closing;
  {
    std::lock_guard lock(mutex_);
    if (!connection->broken() && connection->generation() == generation_) {
      idle_.push_back(std::move(connection));
    } else {
      closing = std::move(connection);
      --open_;
    }
  }
  connection_freed_.notify_one();
  // `closing` is freed here, outside the lock.
}

void RedisPool::retire_idle() {
  std::lock_guard lock(mutex_);
  ++generation_;
}

void RedisPool::mark_down(const Status& why) {
  std::lock_guard lock(mutex_);
  mark_down_locked(why);
}

void RedisPool::mark_down_locked(const Status& why) {
  const bool was_down = down_;
  if (!down_) backoff_ = options_.min_backoff;
  down_ = true;
  last_failure_ = why;
  retry_at_ = SteadyClock::now() + backoff_;
  const milliseconds waiting = backoff_;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  // Every idle connection dates from before the failure.
  ++generation_;
  open_ -= idle_.size();
  idle_.clear();
  connection_freed_.notify_all();
  error_log_.log(Severity::kError,
                 "redis (" + description_ + "): " + (was_down ? "still " : "") + "unavailable: " +
                     why.message() + "; requests are answered by --on-error, next try in " +
                     ms_text(waiting));
}

void RedisPool::mark_up_locked() {
  down_ = false;
  backoff_ = options_.min_backoff;
  log_info("redis (" + description_ + "): connected again");
}

// --- Sentinel ----------------------------------------------------------------

Result<std::unique_ptr<RedisConnection>> RedisPool::connect(TimePoint deadline) {
  using Peer = RedisConnection::Peer;
  if (options_.sentinels.empty()) {
    return RedisConnection::open(options_.url, deadline, Peer::kServer, slack_, guard_sigpipe_);
  }
  RedisUrl target = options_.url;
  auto master = ask_sentinels(deadline);
  if (master.ok()) {
    target.address = master.value();
    std::lock_guard lock(mutex_);
    sentinel_master_ = master.value();
  } else {
    std::lock_guard lock(mutex_);
    if (sentinel_master_.host.empty()) return master.status();
    target.address = sentinel_master_;  // no sentinel answered: the last master known
  }
  return RedisConnection::open(target, deadline, Peer::kMaster, slack_, guard_sigpipe_);
}

Result<RedisHostPort> RedisPool::ask_sentinels(TimePoint deadline) {
  std::string failures;
  const std::size_t sentinels = options_.sentinels.size();
  for (std::size_t i = 0; i < sentinels; ++i) {
    // Each sentinel gets an equal share of the time left, so one that does
    // not answer leaves time to ask the others.
    const TimePoint now = SteadyClock::now();
    const TimePoint sentinel_deadline =
        deadline <= now ? deadline : now + (deadline - now) / static_cast<int>(sentinels - i);
    auto master = ask_sentinel(options_.sentinels[i], sentinel_deadline);
    if (master.ok()) return master;
    failures += "; " + master.status().message();
  }
  return Status::Unavailable("no sentinel gave the master's address" + failures);
}

Result<RedisHostPort> RedisPool::ask_sentinel(const RedisHostPort& sentinel, TimePoint deadline) {
  RedisUrl url;
  url.address = sentinel;
  auto connection =
      RedisConnection::open(url, deadline, RedisConnection::Peer::kSentinel, slack_, guard_sigpipe_);
  if (!connection.ok()) return connection.status();
  connection.value()->start_call(false);
  auto replies = connection.value()->round_trip(
      {{"SENTINEL", "get-master-addr-by-name", options_.master_name}}, deadline);
  if (!replies.ok()) {
    return Status::Unavailable("sentinel " + sentinel.to_string() + ": " +
                               replies.status().message());
  }
  const redisReply& reply = *replies.value()[0];
  if (reply.type == REDIS_REPLY_ARRAY && reply.elements == 2 &&
      reply.element[0]->type == REDIS_REPLY_STRING && reply.element[1]->type == REDIS_REPLY_STRING) {
    RedisHostPort master;
    master.host = std::string(redis::reply_text(*reply.element[0]));
    const std::string port(redis::reply_text(*reply.element[1]));
    master.port = std::atoi(port.c_str());
    if (!master.host.empty() && master.port > 0 && master.port <= 65535) return master;
  }
  return Status::Unavailable("sentinel " + sentinel.to_string() + " does not know master " +
                             redis::printable(options_.master_name));
}

}  // namespace greylist
