// RedisPool: a RedisStore's connections, the server's state, and Sentinel.
//
// At most max_connections connections exist at once, created on demand; a
// call takes one (acquire) for its duration and gives it back (release).
// With sentinels, every new connection asks them, in the order given and
// each within an equal share of the time left, for the master's address,
// and checks with ROLE that it is a master; the last address learnt is used
// when no sentinel answers. After a failure that says the server cannot
// serve (mark_down) the pool answers kUnavailable at once, without touching
// the network, until a back-off interval (min_backoff doubling up to
// max_backoff) has passed; then one call tries to connect again. One error
// line a minute at most goes to the process log, and one when the server is
// back. Thread-safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "greylist/status.h"
#include "store/redis_connection.h"
#include "store/redis_options.h"
#include "util/log.h"

namespace greylist {

class RedisPool {
 public:
  using TimePoint = RedisConnection::TimePoint;

  // `description` names the server in log lines.
  RedisPool(RedisOptions options, std::string description);
  // Closes the idle connections. Callers must have released every other.
  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // An idle connection (reused) or a new one, by `deadline`. kUnavailable
  // while the back-off runs, when every connection stayed busy until the
  // deadline, or when the server (or the sentinels) cannot be reached; the
  // other codes of RedisConnection::open().
  Result<std::unique_ptr<RedisConnection>> acquire(TimePoint deadline);
  // Keeps a healthy connection for the next call, closes a broken one.
  void release(std::unique_ptr<RedisConnection> connection);
  // The idle connections are probably closed by the server as well (one
  // was): close them as they come out of the pool.
  void retire_idle();
  // The server failed (`why`): closes the idle connections, starts or
  // extends the back-off, logs.
  void mark_down(const Status& why);

 private:
  // Opens a connection for acquire() (lock held on entry and on return,
  // released while connecting).
  Result<std::unique_ptr<RedisConnection>> open_locked(std::unique_lock<std::mutex>& lock,
                                                       TimePoint deadline);
  Result<std::unique_ptr<RedisConnection>> connect(TimePoint deadline);
  Result<RedisHostPort> ask_sentinels(TimePoint deadline);
  // Asks one sentinel for the master's address, by `deadline`.
  Result<RedisHostPort> ask_sentinel(const RedisHostPort& sentinel, TimePoint deadline);
  Status all_busy() const;
  void mark_down_locked(const Status& why);
  void mark_up_locked();

  const RedisOptions options_;
  const std::string description_;
  // A socket timeout within 2 % of the time left is left as it is.
  const std::chrono::microseconds slack_;
  const bool guard_sigpipe_;  // SIGPIPE was not ignored when the pool was made

  std::mutex mutex_;
  std::condition_variable connection_freed_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                           // connections in existence, guarded
  std::uint64_t generation_ = 0;  // bumped on failure: older idle connections are closed
  bool down_ = false;             // guarded; the server failed, back-off running
  bool probing_ = false;          // guarded; one call is trying to connect while down_
  TimePoint retry_at_{};                              // guarded
  std::chrono::milliseconds backoff_{0};              // guarded
  Status last_failure_;                               // guarded
  RedisHostPort sentinel_master_;                     // guarded; last master learnt

  RateLimitedLog error_log_{std::chrono::seconds(60)};
};

}  // namespace greylist
