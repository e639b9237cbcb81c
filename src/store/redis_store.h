// RedisStore: the Store in a Redis server (7.0 or later), so that several MX
// hosts share one greylist state. Client: Debian's hiredis (0.14.1).
//
// Atomicity: update() applies its function's verdict by compare-and-set on
// the server; when another client changed the entry meanwhile, the function
// runs again on the new value: concurrent updates, from anywhere, lose
// nothing. expires_at > 0 becomes the entry's TTL (at least 60 s ahead);
// count() includes entries expired since the last scan() passed them.
// Thread-safety: every method, from many threads at once; an update function
// must not call the store. Use after daemonizing; a forked child must not use
// its parent's store. SIGPIPE from its writes is handled (sigpipe_guard.h).
// Errors (never thrown): no call waits longer than `timeout` (a host name
// lookup aside). kUnavailable: the server unreachable, too slow or not
// serving (then at once, until a back-off has passed); kInvalidArgument: a
// refused login or database, a write of an absent value, 512 MiB or more;
// kIoError: any other error or unexpected reply, an exception from fn. A
// call failing with its write in flight may have applied it. Keys, scripts,
// expiry, scan and count, pool, Sentinel: RELIABILITY.md, "Redis store".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "greylist/store.h"
#include "store/redis_options.h"
#include "store/redis_url.h"

namespace greylist {

class RedisConnection;
class RedisPool;

class RedisStore final : public Store {
 public:
  // Checks the options and creates the store; it does not connect (the first
  // call does, and check() can be called to connect at once). kInvalidArgument
  // for an empty prefix, a timeout under 1 ms or over 1 min, no connections,
  // sentinels without a master name.
  static Result<std::unique_ptr<RedisStore>> open(const RedisOptions& options);

  // Closes every connection. Callers must have finished every call first.
  ~RedisStore() override;

  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  Status update(Table table, std::string_view key, const UpdateFunction& fn) override;
  Result<std::optional<std::string>> get(Table table, std::string_view key) override;
  Status put(Table table, std::string_view key, std::string_view value,
             EpochSeconds expires_at) override;
  Status erase(Table table, std::string_view key) override;
  Result<std::vector<StoreEntry>> scan(Table table, std::string_view after,
                                       std::size_t limit) override;
  Result<std::uint64_t> count(Table table) override;
  const char* name() const override { return "redis"; }

  // Connects (if no connection is idle) and sends PING: ok, kUnavailable when
  // the server cannot be reached, kInvalidArgument when it refuses the login
  // or the database. For a start-up check and health checks.
  Status check();

  // Where the store connects, for log lines: the URL without its password,
  // or "master NAME via sentinels HOST:PORT,...".
  const std::string& description() const { return description_; }

 private:
  explicit RedisStore(RedisOptions options);

  using TimePoint = std::chrono::steady_clock::time_point;

  // The Redis key of an entry, and of a table's index.
  std::string data_key(Table table, std::string_view key) const;
  const std::string& index_key(Table table) const;

  // Runs body(connection, deadline) with a connection from the pool; retries
  // once on a new connection when a reused one turns out to have been closed
  // by the server before anything was sent that could have been applied.
  template <typename Body>
  auto with_connection(const char* operation, Body&& body)
      -> decltype(body(std::declval<RedisConnection&>(), std::declval<TimePoint>()));

  // update() on one connection: read, decide, compare-and-set, again while
  // other writers win.
  Status update_on(RedisConnection& connection, Table table, std::string_view key,
                   const UpdateFunction& fn, TimePoint deadline);
  // One scan script run from `start`; appends to `out`, sets `start` for the
  // next run; true when the index ended.
  Result<bool> scan_round(RedisConnection& connection, Table table, std::string& start,
                          std::size_t wanted, std::vector<StoreEntry>& out, TimePoint deadline);

  // "redis (DESCRIPTION): OPERATION failed: REASON", same code.
  Status failure(const char* operation, const Status& status) const;

  const RedisOptions options_;
  const std::string description_;
  const std::string index_keys_[2];  // indexed by Table
  const std::string data_prefixes_[2];
  std::unique_ptr<RedisPool> pool_;
};

}  // namespace greylist
