#include "store/redis_store.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <utility>

namespace greylist {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// An update that lost the race to another writer this many times gives up
// (each attempt re-runs the function on the value that won, so this is only
// reached under contention far beyond any deadline the daemon sets).
constexpr int kMaxUpdateAttempts = 200;
// Redis' largest string (proto-max-bulk-len) is 512 MiB.
constexpr std::size_t kMaxBytes = (std::size_t{512} << 20) - 1;
// An entry is never written with less time to live than this.
constexpr EpochSeconds kMinimumTtl = 60;
// Index members one scan script run examines at most.
constexpr std::size_t kScanBudget = 1000;
// Script runs one scan() makes at most (the deadline usually ends it first).
constexpr int kMaxScanRounds = 10000;

// Reads the entries of one table in index order, skipping (and removing from
// the index) members whose entry has expired. KEYS[1] the index; ARGV: the
// table's data key prefix, the ZRANGEBYLEX start ("(" + the last key seen),
// the number of entries wanted, the members to examine at most. Returns
// {1 if the index ended else 0, the start for a next run, key, value, ...}.
constexpr const char* kScanScript = R"lua(
local index, prefix = KEYS[1], ARGV[1]
local min, limit, budget = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {0, min}
local found, examined = 0, 0
while found < limit and examined < budget do
  local want = math.min(limit - found, budget - examined)
  local members = redis.call('ZRANGEBYLEX', index, min, '+', 'LIMIT', 0, want)
  for _, member in ipairs(members) do
    examined = examined + 1
    local value = redis.call('GET', prefix .. member)
    if value then
      out[#out + 1] = member
      out[#out + 1] = value
      found = found + 1
    else
      redis.call('ZREM', index, member)
    end
    min = '(' .. member
  end
  if #members < want then
    out[1] = 1
    break
  end
end
out[2] = min
return out
)lua";

// Compare-and-set of one entry, the write half of update(). KEYS[1] the
// entry, KEYS[2] its table's index; ARGV: "1" if the entry was read present
// (then ARGV[2] is the value read) or "0" if read absent; "set" or "del";
// the new value; the expiry (Unix seconds, "" for none); the index member.
// When the entry still is what was read, it is written (SET, with EXAT when
// given, and ZADD to the index) or deleted (DEL and ZREM), and the reply is
// {1}; otherwise nothing changes and the reply is the entry now: {0, value},
// or {0} when it is absent. The shebang makes Redis refuse the script up
// front on a read-only replica (READONLY), like any write command.
constexpr const char* kCasScript = R"lua(#!lua
local entry, index = KEYS[1], KEYS[2]
local current = redis.call('GET', entry)
local changed
if ARGV[1] == '1' then changed = current ~= ARGV[2] else changed = current ~= false end
if changed then
  if current then return {0, current} end
  return {0}
end
if ARGV[3] == 'set' then
  if ARGV[5] == '' then
    redis.call('SET', entry, ARGV[4])
  else
    redis.call('SET', entry, ARGV[4], 'EXAT', ARGV[5])
  end
  redis.call('ZADD', index, 0, ARGV[6])
else
  redis.call('DEL', entry)
  redis.call('ZREM', index, ARGV[6])
end
return {1}
)lua";

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};

using Args = std::vector<std::string_view>;

std::string_view reply_text(const redisReply& reply) {
  if (reply.str == nullptr) return {};
  return {reply.str, reply.len};
}

bool is_status(const redisReply& reply, std::string_view text) {
  return reply.type == REDIS_REPLY_STATUS && reply_text(reply) == text;
}

std::string printable(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (const char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (text.size() > kMax) out += "...";
  return out;
}

// An error reply: whether it means "this server cannot serve now" (so the
// connection goes and the back-off starts), a refused login, or anything else.
Status error_reply_status(const redisReply& reply) {
  const std::string_view text = reply_text(reply);
  const std::string message = "server error: " + printable(text);
  for (const char* prefix : {"READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN"}) {
    if (text.starts_with(prefix)) return Status::Unavailable(message);
  }
  for (const char* prefix : {"NOAUTH", "WRONGPASS", "NOPERM", "ERR invalid password", "ERR AUTH",
                             "ERR DB index", "ERR invalid DB index", "ERR Client sent AUTH"}) {
    if (text.starts_with(prefix)) return Status::InvalidArgument(message);
  }
  return Status::IoError(message);
}

// hiredis writes with write(2): on a connection the server closed that
// raises SIGPIPE. While a guard lives, SIGPIPE is blocked in this thread, and
// one it caused is discarded before it is unblocked.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    if (!was_blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool was_blocked_ = false;
};

// The time left until `deadline` as a socket timeout: at least 1 ms (a zero
// timeval would mean "no timeout").
timeval socket_timeout(TimePoint deadline) {
  const auto left = std::max<std::int64_t>(
      1000, duration_cast<microseconds>(deadline - SteadyClock::now()).count());
  return timeval{static_cast<time_t>(left / 1'000'000), static_cast<suseconds_t>(left % 1'000'000)};
}

// A short random pause before an update's next attempt, so that writers that
// collided do not collide again in lockstep: up to 40 µs after the second
// lost race, doubling to 2 ms. False (and no pause) when it would pass
// `deadline`.
bool pause_before_retry(int attempt, TimePoint deadline) {
  thread_local std::minstd_rand jitter(static_cast<unsigned>(
      std::hash<std::thread::id>()(std::this_thread::get_id()) ^
      static_cast<std::size_t>(SteadyClock::now().time_since_epoch().count())));
  const int longest = std::min(2000, 20 << std::min(attempt - 1, 7));  // microseconds
  const auto pause = microseconds(jitter() % static_cast<unsigned>(longest + 1));
  if (SteadyClock::now() + pause >= deadline) return false;
  std::this_thread::sleep_for(pause);
  return true;
}

std::string ms_text(milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

// The Status of a call's result, whether it is a Status or a Result<T>.
const Status& status_of(const Status& status) { return status; }
template <typename T>
const Status& status_of(const Result<T>& result) {
  return result.status();
}

}  // namespace

// One connection. Used by one call at a time (the pool hands it out).
class RedisConnection {
 public:
  // `slack`: how far the socket timeout may be from the time left before it
  // is set again (saves two setsockopt calls per round trip). `guard_sigpipe`:
  // whether writes need SigpipeGuard (not when the process ignores SIGPIPE).
  RedisConnection(redisContext* context, microseconds slack, bool guard_sigpipe)
      : context_(context), slack_(slack), guard_sigpipe_(guard_sigpipe) {}

  std::uint64_t generation() const { return generation_; }
  void set_generation(std::uint64_t generation) { generation_ = generation; }

  // State of the current call, reset when the pool hands the connection out.
  void start_call(bool reused) {
    reused_ = reused;
    round_trips_ = 0;
    broken_ = false;
    closed_by_peer_ = false;
    server_failed_ = false;
  }
  bool reused() const { return reused_; }
  int round_trips() const { return round_trips_; }
  // The connection cannot be used again (closed, timed out, or in an unknown
  // protocol state).
  bool broken() const { return broken_; }
  // It was closed by the server (not timed out).
  bool closed_by_peer() const { return closed_by_peer_; }
  // The failure says the server cannot serve: start the back-off.
  bool server_failed() const { return server_failed_; }

  // Marks the connection unusable after an error reply that says the server
  // cannot serve (READONLY after a failover, LOADING, ...).
  void fail_server() {
    broken_ = true;
    server_failed_ = true;
  }
  void fail() { broken_ = true; }

  // Sends `commands` in one write and reads their replies, all by
  // `deadline`. A failure to send or receive marks the connection broken and
  // is kUnavailable.
  Result<std::vector<ReplyPtr>> round_trip(const std::vector<Args>& commands, TimePoint deadline) {
    if (SteadyClock::now() >= deadline) {
      // Nothing sent: the connection stays usable.
      return Status::Unavailable("timed out before sending");
    }
    redisContext* const c = context_.get();
    const timeval timeout = socket_timeout(deadline);
    const microseconds wanted(std::int64_t{timeout.tv_sec} * 1'000'000 + timeout.tv_usec);
    if (socket_timeout_ < wanted - slack_ || socket_timeout_ > wanted + slack_) {
      if (redisSetTimeout(c, timeout) != REDIS_OK) return transport_failure("setting the timeout");
      socket_timeout_ = wanted;
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const Args& command : commands) {
      argv.clear();
      lengths.clear();
      for (const std::string_view arg : command) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
          REDIS_OK) {
        return transport_failure("queueing a command");
      }
    }
    std::vector<ReplyPtr> replies;
    replies.reserve(commands.size());
    std::optional<SigpipeGuard> no_sigpipe;
    if (guard_sigpipe_) no_sigpipe.emplace();
    for (std::size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) return transport_failure("reading a reply");
      if (raw == nullptr) return transport_failure("reading a reply");
      replies.emplace_back(static_cast<redisReply*>(raw));
    }
    ++round_trips_;
    return replies;
  }

  // The SHA1 of kCasScript as the server reported it when loading it.
  const std::string& cas_script_sha() const { return cas_script_sha_; }
  void set_cas_script_sha(std::string_view sha) { cas_script_sha_ = sha; }

 private:
  Status transport_failure(const char* doing) {
    const int error = errno;
    redisContext* const c = context_.get();
    broken_ = true;
    server_failed_ = true;
    std::string reason = c->errstr[0] != '\0' ? c->errstr : "unknown error";
    if (c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && (error == ECONNRESET || error == EPIPE))) {
      closed_by_peer_ = true;
    } else if (c->err == REDIS_ERR_IO && (error == EAGAIN || error == EWOULDBLOCK)) {
      reason = "no answer in time";
    }
    return Status::Unavailable(std::string(doing) + ": " + reason);
  }

  std::unique_ptr<redisContext, ContextDeleter> context_;
  const microseconds slack_;
  const bool guard_sigpipe_;
  microseconds socket_timeout_{-1};  // as last set on the socket; -1: never set
  std::uint64_t generation_ = 0;
  std::string cas_script_sha_;
  bool reused_ = false;
  int round_trips_ = 0;
  bool broken_ = false;
  bool closed_by_peer_ = false;
  bool server_failed_ = false;
};

namespace {

// The replies of MULTI, the queued commands and EXEC: ok, or why not.
Status check_transaction(RedisConnection& connection, const std::vector<ReplyPtr>& replies) {
  for (std::size_t i = 0; i + 1 < replies.size(); ++i) {
    const redisReply& reply = *replies[i];
    if (reply.type == REDIS_REPLY_ERROR) {
      // EXEC then answers EXECABORT: the transaction is over, nothing applied.
      Status s = error_reply_status(reply);
      if (s.code() == Status::Code::kUnavailable) connection.fail_server();
      return s;
    }
    if (!is_status(reply, i == 0 ? "OK" : "QUEUED")) {
      connection.fail();
      return Status::IoError("unexpected reply in a transaction");
    }
  }
  const redisReply& exec = *replies.back();
  if (exec.type == REDIS_REPLY_ERROR) {
    Status s = error_reply_status(exec);
    if (s.code() == Status::Code::kUnavailable) connection.fail_server();
    return s;
  }
  if (exec.type != REDIS_REPLY_ARRAY || exec.elements != replies.size() - 2) {
    connection.fail();
    return Status::IoError("unexpected reply to EXEC");
  }
  for (std::size_t i = 0; i < exec.elements; ++i) {
    if (exec.element[i]->type == REDIS_REPLY_ERROR) return error_reply_status(*exec.element[i]);
  }
  return Status::Ok();
}

// The status of a single reply that must not be an error.
Status check_reply(RedisConnection& connection, const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return Status::Ok();
  Status s = error_reply_status(reply);
  if (s.code() == Status::Code::kUnavailable) connection.fail_server();
  return s;
}

// The EXAT argument for an entry that may be forgotten at `expires_at`:
// empty for 0 (no TTL), and never less than kMinimumTtl ahead of this
// host's clock.
std::string expiry_text(EpochSeconds expires_at) {
  if (expires_at <= 0) return {};
  const EpochSeconds now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  return std::to_string(std::max(expires_at, now + kMinimumTtl));
}

// GET of one entry: its value, or nullopt when absent.
Result<std::optional<std::string>> read_entry(RedisConnection& connection,
                                              const std::string& entry, TimePoint deadline) {
  auto replies = connection.round_trip({{"GET", entry}}, deadline);
  if (!replies.ok()) return replies.status();
  const redisReply& reply = *replies.value()[0];
  if (Status s = check_reply(connection, reply); !s.ok()) return s;
  if (reply.type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if (reply.type != REDIS_REPLY_STRING) {
    connection.fail();
    return Status::IoError("unexpected reply to GET");
  }
  return std::optional<std::string>(std::string(reply_text(reply)));
}

// What a kCasScript run did: wrote (done), or found the entry changed to
// `current` (nullopt: absent) and left it.
struct CasResult {
  bool done = false;
  std::optional<std::string> current;
};

// Runs kCasScript with EVALSHA `cas` (its arguments). A server that has lost
// the script (SCRIPT FLUSH; a restart or failover behind a proxy) answers
// NOSCRIPT: the script is then loaded and run again in one round trip.
Result<CasResult> compare_and_set(RedisConnection& connection, const Args& cas,
                                  TimePoint deadline) {
  auto replies = connection.round_trip({cas}, deadline);
  if (!replies.ok()) return replies.status();
  if (const redisReply& first = *replies.value()[0];
      first.type == REDIS_REPLY_ERROR && reply_text(first).starts_with("NOSCRIPT")) {
    replies = connection.round_trip({{"SCRIPT", "LOAD", kCasScript}, cas}, deadline);
    if (!replies.ok()) return replies.status();
    const redisReply& loaded = *replies.value()[0];
    if (Status s = check_reply(connection, loaded); !s.ok()) return s;
    if (loaded.type != REDIS_REPLY_STRING || reply_text(loaded) != connection.cas_script_sha()) {
      connection.fail();
      return Status::IoError("unexpected reply to SCRIPT LOAD");
    }
    replies.value().erase(replies.value().begin());
  }
  const redisReply& reply = *replies.value()[0];
  if (Status s = check_reply(connection, reply); !s.ok()) return s;
  const bool shaped = reply.type == REDIS_REPLY_ARRAY && (reply.elements == 1 || reply.elements == 2) &&
                      reply.element[0]->type == REDIS_REPLY_INTEGER;
  CasResult result;
  if (shaped && reply.element[0]->integer == 1 && reply.elements == 1) {
    result.done = true;
    return result;
  }
  if (shaped && reply.element[0]->integer == 0) {
    if (reply.elements == 1 || reply.element[1]->type == REDIS_REPLY_NIL) return result;
    if (reply.element[1]->type == REDIS_REPLY_STRING) {
      result.current.emplace(reply_text(*reply.element[1]));
      return result;
    }
  }
  connection.fail();
  return Status::IoError("unexpected reply from the update script");
}

Status too_large() { return Status::InvalidArgument("key or value of 512 MiB or more"); }

}  // namespace

RedisStore::RedisStore(RedisOptions options)
    : options_(std::move(options)),
      description_(options_.sentinels.empty()
                       ? options_.url.to_string()
                       : [this] {
                           std::string text = "master " + options_.master_name + " via sentinels ";
                           for (std::size_t i = 0; i < options_.sentinels.size(); ++i) {
                             if (i > 0) text += ",";
                             text += options_.sentinels[i].to_string();
                           }
                           return text;
                         }()),
      index_keys_{options_.prefix + "i:t", options_.prefix + "i:c"},
      data_prefixes_{options_.prefix + "t:", options_.prefix + "c:"},
      backoff_(options_.min_backoff),
      guard_sigpipe_([] {
        struct sigaction current {};
        return sigaction(SIGPIPE, nullptr, &current) != 0 || current.sa_handler != SIG_IGN;
      }()) {}

RedisStore::~RedisStore() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

Result<std::unique_ptr<RedisStore>> RedisStore::open(const RedisOptions& options) {
  if (options.prefix.empty()) return Status::InvalidArgument("redis: the key prefix must not be empty");
  if (options.timeout < milliseconds(1) || options.timeout > milliseconds(60'000)) {
    return Status::InvalidArgument("redis: the timeout must be from 1 to 60000 ms");
  }
  if (options.max_connections == 0) {
    return Status::InvalidArgument("redis: at least one connection is needed");
  }
  if (!options.sentinels.empty() && options.master_name.empty()) {
    return Status::InvalidArgument("redis: sentinels need a master name");
  }
  if (!options.sentinels.empty() && options.url.kind != RedisUrl::Kind::kTcp) {
    return Status::InvalidArgument("redis: with sentinels, the URL must be redis:// (the master "
                                   "is reached over TCP)");
  }
  if (options.min_backoff.count() <= 0 || options.max_backoff < options.min_backoff) {
    return Status::InvalidArgument("redis: bad back-off interval");
  }
  try {
    return std::unique_ptr<RedisStore>(new RedisStore(options));
  } catch (const std::exception& e) {
    return Status::IoError(std::string("redis: ") + e.what());
  }
}

std::string RedisStore::data_key(Table table, std::string_view key) const {
  const std::string& prefix = data_prefixes_[static_cast<std::size_t>(table)];
  std::string out;
  out.reserve(prefix.size() + key.size());
  out.append(prefix).append(key);
  return out;
}

const std::string& RedisStore::index_key(Table table) const {
  return index_keys_[static_cast<std::size_t>(table)];
}

Status RedisStore::failure(const char* operation, const Status& status) const {
  std::string message = "redis (" + description_ + "): " + operation + " failed: " + status.message();
  switch (status.code()) {
    case Status::Code::kUnavailable:
      return Status::Unavailable(std::move(message));
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case Status::Code::kCorruption:
      return Status::Corruption(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

// --- connections ----------------------------------------------------------

Result<std::unique_ptr<RedisConnection>> RedisStore::acquire(TimePoint deadline) {
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
      if (SteadyClock::now() >= deadline) {
        // The time went waiting for a busy pool: no verdict on the server.
        return Status::Unavailable("all " + std::to_string(options_.max_connections) +
                                   " connections stayed busy for " + ms_text(options_.timeout));
      }
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
    if (connection_freed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.max_connections) {
      return Status::Unavailable("all " + std::to_string(options_.max_connections) +
                                 " connections stayed busy for " + ms_text(options_.timeout));
    }
  }
}

void RedisStore::release(std::unique_ptr<RedisConnection> connection) {
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

void RedisStore::mark_down_locked(const Status& why) {
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

void RedisStore::mark_up_locked() {
  down_ = false;
  backoff_ = options_.min_backoff;
  log_info("redis (" + description_ + "): connected again");
}

Result<std::unique_ptr<RedisConnection>> RedisStore::connect(TimePoint deadline) {
  if (options_.sentinels.empty()) return connect_to(options_.url, deadline, Peer::kServer);
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
  return connect_to(target, deadline, Peer::kMaster);
}

Result<std::unique_ptr<RedisConnection>> RedisStore::connect_to(const RedisUrl& target,
                                                               TimePoint deadline,
                                                               Peer peer) {
  const std::string where = target.kind == RedisUrl::Kind::kUnix ? target.path
                                                                 : target.address.to_string();
  if (SteadyClock::now() >= deadline) {
    return Status::Unavailable("no time left to connect to " + where);
  }
  const timeval timeout = socket_timeout(deadline);
  redisContext* raw = target.kind == RedisUrl::Kind::kUnix
                          ? redisConnectUnixWithTimeout(target.path.c_str(), timeout)
                          : redisConnectWithTimeout(target.address.host.c_str(),
                                                    target.address.port, timeout);
  if (raw == nullptr) return Status::Unavailable("cannot allocate a connection to " + where);
  // A socket timeout within 2 % of the time left is left as it is.
  const microseconds slack = std::max(microseconds(1000), duration_cast<microseconds>(options_.timeout) / 50);
  auto connection = std::make_unique<RedisConnection>(raw, slack, guard_sigpipe_);
  if (raw->err != 0) {
    return Status::Unavailable("cannot connect to " + where + ": " + raw->errstr);
  }
  if (target.kind == RedisUrl::Kind::kTcp) redisEnableKeepAlive(raw);

  const std::string database = std::to_string(target.database);
  std::vector<Args> setup;
  if (!target.password.empty()) {
    if (target.user.empty()) {
      setup.push_back({"AUTH", target.password});
    } else {
      setup.push_back({"AUTH", target.user, target.password});
    }
  }
  if (target.database != 0) setup.push_back({"SELECT", database});
  if (peer == Peer::kMaster) setup.push_back({"ROLE"});
  // Every connection to the server loads the update script (a no-op when the
  // server has it), so the first update after a restart or a failover finds
  // it on the new server; update() reloads it if the server lost it since.
  if (peer != Peer::kSentinel) setup.push_back({"SCRIPT", "LOAD", kCasScript});
  if (setup.empty()) return connection;

  connection->start_call(false);
  auto replies = connection->round_trip(setup, deadline);
  if (!replies.ok()) return Status::Unavailable(where + ": " + replies.status().message());
  for (std::size_t i = 0; i < setup.size(); ++i) {
    const redisReply& reply = *replies.value()[i];
    if (reply.type == REDIS_REPLY_ERROR) {
      const Status s = error_reply_status(reply);
      const std::string command(setup[i][0]);
      if (s.code() == Status::Code::kInvalidArgument || command == "AUTH" || command == "SELECT") {
        // A refused AUTH or SELECT is a configuration error, not an outage.
        return Status::InvalidArgument(where + " refused " + command + ": " + s.message());
      }
      if (s.code() == Status::Code::kUnavailable || command == "ROLE") {
        return Status::Unavailable(where + ": " + s.message());
      }
      return Status::IoError(where + " refused " + command + ": " + s.message());
    }
    if (setup[i][0] == "SCRIPT") {
      if (reply.type != REDIS_REPLY_STRING || reply.len == 0) {
        return Status::IoError(where + ": unexpected reply to SCRIPT LOAD");
      }
      connection->set_cas_script_sha(reply_text(reply));
    }
    if (setup[i][0] == "ROLE") {
      if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0 ||
          reply_text(*reply.element[0]) != "master") {
        return Status::Unavailable(where + " is not a master (yet)");
      }
    }
  }
  return connection;
}

Result<RedisHostPort> RedisStore::ask_sentinels(TimePoint deadline) {
  std::string failures;
  const std::size_t sentinels = options_.sentinels.size();
  for (std::size_t i = 0; i < sentinels; ++i) {
    const RedisHostPort& sentinel = options_.sentinels[i];
    // Each sentinel gets an equal share of the time left, so one that does
    // not answer leaves time to ask the others.
    const TimePoint now = SteadyClock::now();
    const TimePoint sentinel_deadline =
        deadline <= now ? deadline : now + (deadline - now) / static_cast<int>(sentinels - i);
    RedisUrl url;
    url.address = sentinel;
    auto connection = connect_to(url, sentinel_deadline, Peer::kSentinel);
    if (!connection.ok()) {
      failures += "; " + connection.status().message();
      continue;
    }
    connection.value()->start_call(false);
    auto replies = connection.value()->round_trip(
        {{"SENTINEL", "get-master-addr-by-name", options_.master_name}}, sentinel_deadline);
    if (!replies.ok()) {
      failures += "; sentinel " + sentinel.to_string() + ": " + replies.status().message();
      continue;
    }
    const redisReply& reply = *replies.value()[0];
    if (reply.type == REDIS_REPLY_ARRAY && reply.elements == 2 &&
        reply.element[0]->type == REDIS_REPLY_STRING && reply.element[1]->type == REDIS_REPLY_STRING) {
      RedisHostPort master;
      master.host = std::string(reply_text(*reply.element[0]));
      const std::string port(reply_text(*reply.element[1]));
      master.port = std::atoi(port.c_str());
      if (!master.host.empty() && master.port > 0 && master.port <= 65535) return master;
    }
    failures += "; sentinel " + sentinel.to_string() + " does not know master " +
                printable(options_.master_name);
  }
  return Status::Unavailable("no sentinel gave the master's address" + failures);
}

template <typename Body>
auto RedisStore::with_connection(const char* operation, Body&& body)
    -> decltype(body(std::declval<RedisConnection&>(), std::declval<TimePoint>())) {
  const TimePoint deadline = SteadyClock::now() + options_.timeout;
  for (int attempt = 1;; ++attempt) {
    auto acquired = acquire(deadline);
    if (!acquired.ok()) return failure(operation, acquired.status());
    std::unique_ptr<RedisConnection> connection = std::move(acquired).value();
    auto result = body(*connection, deadline);
    // A reused connection the server had closed (restart, idle timeout)
    // fails its first round trip before anything was applied: try once more
    // on a new connection.
    const bool stale = connection->broken() && connection->closed_by_peer() &&
                       connection->reused() && connection->round_trips() == 0;
    const bool server_failed = connection->server_failed();
    release(std::move(connection));
    if (stale && attempt == 1) {
      std::lock_guard lock(mutex_);
      ++generation_;  // the other idle connections are probably closed as well
      continue;
    }
    const Status& status = status_of(result);
    if (server_failed) {
      std::lock_guard lock(mutex_);
      mark_down_locked(status.ok() ? Status::Unavailable("server failed") : status);
    }
    if (!status.ok()) return failure(operation, status);
    return result;
  }
}

// --- the Store methods ------------------------------------------------------

Status RedisStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  if (key.size() > kMaxBytes) return failure("update", too_large());
  const std::string entry = data_key(table, key);
  const std::string& index = index_key(table);
  return with_connection("update", [&](RedisConnection& connection, TimePoint deadline) -> Status {
    auto read = read_entry(connection, entry, deadline);
    if (!read.ok()) return read.status();
    std::optional<std::string> current = std::move(read).value();
    for (int attempt = 1;; ++attempt) {
      std::optional<std::string> value = current;
      UpdateOutcome outcome;
      try {
        outcome = fn(value);
      } catch (const std::exception& e) {
        return Status::IoError(std::string("exception: ") + e.what());
      } catch (...) {
        return Status::IoError("exception: unknown");
      }
      switch (outcome.verdict) {
        case UpdateOutcome::Verdict::kKeep:
          return Status::Ok();  // a read: one GET, nothing to undo
        case UpdateOutcome::Verdict::kWrite:
          if (!value) {
            return Status::InvalidArgument("the update function asked to write an absent value");
          }
          if (value->size() > kMaxBytes) return too_large();
          break;
        case UpdateOutcome::Verdict::kErase:
          if (!current) return Status::Ok();
          break;
      }
      const bool write = outcome.verdict == UpdateOutcome::Verdict::kWrite;
      const std::string expiry = write ? expiry_text(outcome.expires_at) : std::string();
      const Args cas{"EVALSHA", connection.cas_script_sha(), "2", entry, index,
                     current ? "1" : "0", current ? std::string_view(*current) : std::string_view(),
                     write ? "set" : "del", write ? std::string_view(*value) : std::string_view(),
                     expiry, key};
      auto swapped = compare_and_set(connection, cas, deadline);
      if (!swapped.ok()) return swapped.status();
      if (swapped.value().done) return Status::Ok();
      // Another writer changed the entry since it was read: decide again on
      // what it wrote (the script returned it, so no new read is needed).
      // Losing again means several writers are racing on this key: back off
      // for a short random time, so that they stop colliding in lockstep
      // (an unlucky writer could otherwise lose every round), and read the
      // entry afresh, since what the script returned is stale by then.
      current = std::move(swapped.value().current);
      if (attempt >= 2 && attempt < kMaxUpdateAttempts && pause_before_retry(attempt, deadline)) {
        read = read_entry(connection, entry, deadline);
        if (!read.ok()) return read.status();
        current = std::move(read).value();
      }
      if (attempt >= kMaxUpdateAttempts) {
        return Status::Unavailable("the entry kept changing: gave up after " +
                                   std::to_string(kMaxUpdateAttempts) + " attempts");
      }
      if (SteadyClock::now() >= deadline) {
        return Status::Unavailable("the entry kept changing: gave up after " +
                                   std::to_string(attempt) + " attempts in " +
                                   ms_text(options_.timeout));
      }
    }
  });
}

Result<std::optional<std::string>> RedisStore::get(Table table, std::string_view key) {
  if (key.size() > kMaxBytes) return failure("get", too_large());
  const std::string entry = data_key(table, key);
  return with_connection("get",
                         [&](RedisConnection& connection,
                             TimePoint deadline) -> Result<std::optional<std::string>> {
                           return read_entry(connection, entry, deadline);
                         });
}

Status RedisStore::put(Table table, std::string_view key, std::string_view value,
                       EpochSeconds expires_at) {
  if (key.size() > kMaxBytes || value.size() > kMaxBytes) return failure("put", too_large());
  const std::string entry = data_key(table, key);
  const std::string& index = index_key(table);
  const std::string expiry = expiry_text(expires_at);
  std::vector<Args> transaction{{"MULTI"}};
  if (!expiry.empty()) {
    transaction.push_back({"SET", entry, value, "EXAT", expiry});
  } else {
    transaction.push_back({"SET", entry, value});
  }
  transaction.push_back({"ZADD", index, "0", key});
  transaction.push_back({"EXEC"});
  return with_connection("put", [&](RedisConnection& connection, TimePoint deadline) -> Status {
    auto replies = connection.round_trip(transaction, deadline);
    if (!replies.ok()) return replies.status();
    return check_transaction(connection, replies.value());
  });
}

Status RedisStore::erase(Table table, std::string_view key) {
  if (key.size() > kMaxBytes) return failure("erase", too_large());
  const std::string entry = data_key(table, key);
  const std::vector<Args> transaction{
      {"MULTI"}, {"DEL", entry}, {"ZREM", index_key(table), key}, {"EXEC"}};
  return with_connection("erase", [&](RedisConnection& connection, TimePoint deadline) -> Status {
    auto replies = connection.round_trip(transaction, deadline);
    if (!replies.ok()) return replies.status();
    return check_transaction(connection, replies.value());
  });
}

Result<std::vector<StoreEntry>> RedisStore::scan(Table table, std::string_view after,
                                                 std::size_t limit) {
  if (limit == 0) return std::vector<StoreEntry>();
  if (after.size() > kMaxBytes) return failure("scan", too_large());
  const std::string& prefix = data_prefixes_[static_cast<std::size_t>(table)];
  const std::string& index = index_key(table);
  return with_connection(
      "scan",
      [&](RedisConnection& connection, TimePoint deadline) -> Result<std::vector<StoreEntry>> {
        std::vector<StoreEntry> out;
        std::string start = "(" + std::string(after);
        const std::string budget = std::to_string(kScanBudget);
        for (int round = 0; round < kMaxScanRounds; ++round) {
          const std::string wanted = std::to_string(std::min(limit - out.size(), kScanBudget));
          auto replies = connection.round_trip(
              {{"EVAL", kScanScript, "1", index, prefix, start, wanted, budget}}, deadline);
          if (!replies.ok()) return replies.status();
          const redisReply& reply = *replies.value()[0];
          if (Status s = check_reply(connection, reply); !s.ok()) return s;
          if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 2 || reply.elements % 2 != 0 ||
              reply.element[0]->type != REDIS_REPLY_INTEGER ||
              reply.element[1]->type != REDIS_REPLY_STRING) {
            return Status::IoError("unexpected reply from the scan script");
          }
          for (std::size_t i = 2; i + 1 < reply.elements; i += 2) {
            const redisReply& key = *reply.element[i];
            const redisReply& value = *reply.element[i + 1];
            if (key.type != REDIS_REPLY_STRING || value.type != REDIS_REPLY_STRING) {
              return Status::IoError("unexpected entry from the scan script");
            }
            out.push_back({std::string(reply_text(key)), std::string(reply_text(value))});
          }
          const bool index_ended = reply.element[0]->integer == 1;
          if (index_ended || out.size() >= limit) return out;
          start = std::string(reply_text(*reply.element[1]));
        }
        return Status::Unavailable("gave up after " + std::to_string(kMaxScanRounds) +
                                   " rounds of expired index members");
      });
}

Result<std::uint64_t> RedisStore::count(Table table) {
  const std::string& index = index_key(table);
  return with_connection(
      "count", [&](RedisConnection& connection, TimePoint deadline) -> Result<std::uint64_t> {
        auto replies = connection.round_trip({{"ZCARD", index}}, deadline);
        if (!replies.ok()) return replies.status();
        const redisReply& reply = *replies.value()[0];
        if (Status s = check_reply(connection, reply); !s.ok()) return s;
        if (reply.type != REDIS_REPLY_INTEGER || reply.integer < 0) {
          return Status::IoError("unexpected reply to ZCARD");
        }
        return static_cast<std::uint64_t>(reply.integer);
      });
}

Status RedisStore::check() {
  return with_connection("check", [&](RedisConnection& connection, TimePoint deadline) -> Status {
    auto replies = connection.round_trip({{"PING"}}, deadline);
    if (!replies.ok()) return replies.status();
    const redisReply& reply = *replies.value()[0];
    if (Status s = check_reply(connection, reply); !s.ok()) return s;
    if (!is_status(reply, "PONG")) return Status::IoError("unexpected reply to PING");
    return Status::Ok();
  });
}

}  // namespace greylist
