// RedisStore: the Store in a Redis server (7.0 or later), so that several MX
// hosts share one greylist state. Client: Debian's hiredis (0.14.1).
//
// Keys, for a prefix P (--redis-prefix, default "greylist:"):
//   P "t:" <key bytes>   a triplet entry; the value is the record's bytes
//   P "c:" <key bytes>   a clients-table entry (client or domain record)
//   P "i:t", P "i:c"     one sorted set per table indexing its keys (every
//                        member scored 0, so ordered bytewise), for scan()
// Keys and values are passed as binary-safe arguments, never formatted into
// command text. Several stores (or sites) may share one database with
// distinct prefixes. Redis Cluster is not supported (a write touches
// an entry and its table's index, which would be in different slots).
//
// Atomicity: update() reads the entry (GET), runs the update function here,
// and applies its verdict with a compare-and-set script (EVALSHA): in one
// atomic step on the server, the script compares the entry with the value
// read (or its absence) and, if it is unchanged, SETs it (with its TTL) and
// ZADDs it to the index, or DELs it and ZREMs it from the index. If another
// client (thread, process or host) changed the entry in between, the script
// changes nothing and returns the entry as it is now, and the function runs
// again on that value (from the second lost race on, after a short random
// pause and a fresh GET); at most 200 attempts, and never past the call's
// deadline (below). So the function may run several times, and concurrent
// updates of one key, from anywhere, lose nothing. The comparison is of the
// bytes: an entry changed and changed back counts as unchanged, which is
// the same as if this update had come after those changes.
// Cost: an update that keeps the entry (or erases an absent one) is one GET;
// one that writes or erases is a GET and an EVALSHA, 2 round trips.
// The script is loaded (SCRIPT LOAD) on every new connection to the server,
// so also on the new master after a failover or a restart; a server that
// answers NOSCRIPT (SCRIPT FLUSH, or a failover behind a proxy) gets it
// loaded again, in the same round trip as the retried EVALSHA. The script
// starts with a "#!lua" line, so the server must be Redis 7.0 or later.
//
// Expiry: a kWrite with expires_at > 0, and put() with expires_at > 0, set
// the entry's TTL with SET ... EXAT expires_at (an absolute Unix time, read
// on the Redis server's clock). An expires_at less than 60 s ahead of this
// host's clock is raised to now + 60 s, so that clock differences between
// the hosts and the server never make a just-written entry vanish at once.
// expires_at == 0 writes an entry without TTL. The entry disappears at its
// TTL; its index member stays until a scan() passes over it.
//
// scan(): ZRANGEBYLEX on the table's index, in a Lua script that reads each
// entry and skips, and removes from the index, members whose entry expired.
// It returns exactly the entries a bytewise-ordered store would. One script
// run examines at most 1000 members (so it never blocks the server for long);
// the call repeats it until `limit` entries are found or the index ends.
// The daemon's expiry sweep scans the tables continuously, which keeps the
// index free of expired members.
//
// count(): ZCARD of the table's index: exact, except that entries expired by
// their TTL are counted until a scan() has passed over them. (An exact
// count would read every entry and block the server for a large table.)
//
// Connections: a pool of at most `max_connections` connections, created on
// demand; each call takes one for its duration. Every call has a deadline of
// `timeout` from its start (the connection, the Sentinel query and every
// round trip are bounded by what is left of it), so no call waits longer.
// A pooled connection found closed by the server (restart, idle timeout) is
// replaced and the call retried once when nothing can have been applied yet.
//
// Failures: when the server cannot be reached or answers too slowly, or says
// it cannot serve (LOADING, READONLY after a failover, MASTERDOWN), the call
// returns kUnavailable; the store then answers kUnavailable at once, without
// touching the network, until a back-off interval (100 ms, doubling up to
// 2 s) has passed, when the next call tries to connect again. So an outage
// costs each request nothing but its fast error, and service resumes by
// itself when the server is back. One error line per minute at most goes to
// the process log (util/log.h), and one line when the server is back.
// Other errors:
//   kInvalidArgument  a rejected login (AUTH) or database number (SELECT),
//                     an update function that asked to write an absent value,
//                     a key or value of 512 MiB or more;
//   kIoError          any other error reply from the server, an unexpected
//                     reply, and an exception thrown by an update function
//                     (nothing is written then).
// A call that fails while its write is in flight (the server went away
// between EVALSHA, or EXEC, and its reply) returns an error although the
// change may have been applied; Redis cannot tell.
//
// Sentinel: with sentinels given, every new connection asks them (in the
// order given, each bounded by the deadline) for the address of `master_name`
// (SENTINEL get-master-addr-by-name), connects to it and checks with ROLE
// that it is a master; the last address learnt is used when no sentinel
// answers. After a failover the connections to the old master fail (or get
// READONLY) and the next connections go to the new master.
//
// Thread-safety: every method may be called from many threads at once. An
// update function runs while its connection is held (not while the key is
// locked: nothing is locked in Redis); it must not call the store, since
// with a full pool it would wait for itself until the deadline.
//
// Process: hiredis writes with write(2): a write to a connection the server
// has closed raises SIGPIPE. Unless SIGPIPE is ignored when the store is
// opened (as the daemon does; do not restore it later), the store blocks
// SIGPIPE in the calling thread around its socket writes and discards the
// signal it causes, so the process needs no SIGPIPE disposition of its own. Use the store after daemonizing:
// a forked child must not use, or destroy, a store its parent opened.
//
// Host names in the URL or the sentinel list are resolved by the system
// resolver at each new connection; that lookup is not bounded by `timeout`,
// so give addresses where the resolver might be slow.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "greylist/store.h"
#include "store/redis_url.h"
#include "util/log.h"

namespace greylist {

class RedisConnection;  // one hiredis connection (redis_store.cc)

struct RedisOptions {
  // The server (--redis). With sentinels, only its user, password and
  // database are used: the address comes from the sentinels.
  RedisUrl url;
  // Sentinels (--redis-sentinel); empty: connect to url directly.
  std::vector<RedisHostPort> sentinels;
  std::string master_name = "mymaster";  // --redis-master
  std::string prefix = "greylist:";      // --redis-prefix
  // Deadline of each call (--redis-timeout): connecting, asking the
  // sentinels, every round trip and every retry together.
  std::chrono::milliseconds timeout{500};
  // Connections open at once, at most; a call finding all of them busy
  // waits for one until its deadline.
  std::size_t max_connections = 16;
  // Back-off after a failure: the first interval, doubled up to the last.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

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

  // The Redis key of an entry, and of a table's index.
  std::string data_key(Table table, std::string_view key) const;
  const std::string& index_key(Table table) const;

  using TimePoint = std::chrono::steady_clock::time_point;

  // Takes an idle connection or opens a new one, by `deadline`.
  Result<std::unique_ptr<RedisConnection>> acquire(TimePoint deadline);
  // Returns a healthy connection to the pool, or closes a broken one.
  void release(std::unique_ptr<RedisConnection> connection);
  Result<std::unique_ptr<RedisConnection>> connect(TimePoint deadline);
  // What connect_to() connects to: a sentinel; the server; the server,
  // which must be a master (checked with ROLE).
  enum class Peer { kSentinel, kServer, kMaster };
  Result<std::unique_ptr<RedisConnection>> connect_to(const RedisUrl& target, TimePoint deadline,
                                                      Peer peer);
  Result<RedisHostPort> ask_sentinels(TimePoint deadline);
  // Records that the server failed (closing the idle connections, starting
  // or extending the back-off), or that it answers again. mutex_ held.
  void mark_down_locked(const Status& why);
  void mark_up_locked();

  // Runs body(connection, deadline) with a connection from the pool; retries
  // once on a new connection when a reused one turns out to have been closed
  // by the server before anything was sent that could have been applied.
  template <typename Body>
  auto with_connection(const char* operation, Body&& body)
      -> decltype(body(std::declval<RedisConnection&>(), std::declval<TimePoint>()));

  // "redis (DESCRIPTION): OPERATION failed: REASON", same code.
  Status failure(const char* operation, const Status& status) const;

  const RedisOptions options_;
  const std::string description_;
  const std::string index_keys_[2];  // indexed by Table
  const std::string data_prefixes_[2];

  std::mutex mutex_;
  std::condition_variable connection_freed_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                           // connections in existence, guarded
  std::uint64_t generation_ = 0;  // bumped on failure: older idle connections are closed
  bool down_ = false;             // guarded; the server failed, back-off running
  bool probing_ = false;          // guarded; one call is trying to connect while down_
  std::chrono::steady_clock::time_point retry_at_{};  // guarded
  std::chrono::milliseconds backoff_{0};              // guarded
  Status last_failure_;                               // guarded
  RedisHostPort sentinel_master_;                     // guarded; last master learnt

  RateLimitedLog error_log_{std::chrono::seconds(60)};
  const bool guard_sigpipe_;  // SIGPIPE was not ignored when the store was opened
};

}  // namespace greylist
