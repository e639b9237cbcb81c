#include "store/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <exception>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "store/redis_connection.h"
#include "store/redis_pool.h"
#include "store/redis_reply.h"
#include "store/redis_scripts.h"

namespace greylist {
namespace {

using redis::Args;
using redis::reply_text;
using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
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

Status too_large() { return Status::InvalidArgument("key or value of 512 MiB or more"); }

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
  if (Status s = connection.check_reply(reply); !s.ok()) return s;
  if (reply.type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if (reply.type != REDIS_REPLY_STRING) {
    connection.fail();
    return Status::IoError("unexpected reply to GET");
  }
  return std::optional<std::string>(std::string(reply_text(reply)));
}

// Runs the update function on `value`; an exception becomes kIoError.
Result<UpdateOutcome> run_update_function(const UpdateFunction& fn,
                                          std::optional<std::string>& value) {
  try {
    return fn(value);
  } catch (const std::exception& e) {
    return Status::IoError(std::string("exception: ") + e.what());
  } catch (...) {
    return Status::IoError("exception: unknown");
  }
}

// What a kCasScript run did: wrote (done), or found the entry changed to
// `current` (nullopt: absent) and left it.
struct CasResult {
  bool done = false;
  std::optional<std::string> current;
};

// The reply of a kCasScript run.
Result<CasResult> cas_result(RedisConnection& connection, const redisReply& reply) {
  if (Status s = connection.check_reply(reply); !s.ok()) return s;
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

// Runs kCasScript with EVALSHA `cas` (its arguments). A server that has lost
// the script (SCRIPT FLUSH; a restart or failover behind a proxy) answers
// NOSCRIPT: the script is then loaded and run again in one round trip.
Result<CasResult> compare_and_set(RedisConnection& connection, const Args& cas,
                                  TimePoint deadline) {
  auto replies = connection.round_trip({cas}, deadline);
  if (!replies.ok()) return replies.status();
  if (const redisReply& first = *replies.value()[0];
      first.type == REDIS_REPLY_ERROR && reply_text(first).starts_with("NOSCRIPT")) {
    replies = connection.round_trip({{"SCRIPT", "LOAD", redis::kCasScript}, cas}, deadline);
    if (!replies.ok()) return replies.status();
    const redisReply& loaded = *replies.value()[0];
    if (Status s = connection.check_reply(loaded); !s.ok()) return s;
    if (loaded.type != REDIS_REPLY_STRING || reply_text(loaded) != connection.cas_script_sha()) {
      connection.fail();
      return Status::IoError("unexpected reply to SCRIPT LOAD");
    }
    replies.value().erase(replies.value().begin());
  }
  return cas_result(connection, *replies.value()[0]);
}

std::string describe(const RedisOptions& options) {
  if (options.sentinels.empty()) return options.url.to_string();
  std::string text = "master " + options.master_name + " via sentinels ";
  for (std::size_t i = 0; i < options.sentinels.size(); ++i) {
    if (i > 0) text += ",";
    text += options.sentinels[i].to_string();
  }
  return text;
}

}  // namespace

RedisStore::RedisStore(RedisOptions options)
    : options_(std::move(options)),
      description_(describe(options_)),
      index_keys_{options_.prefix + "i:t", options_.prefix + "i:c"},
      data_prefixes_{options_.prefix + "t:", options_.prefix + "c:"},
      pool_(std::make_unique<RedisPool>(options_, description_)) {}

RedisStore::~RedisStore() = default;

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

template <typename Body>
auto RedisStore::with_connection(const char* operation, Body&& body)
    -> decltype(body(std::declval<RedisConnection&>(), std::declval<TimePoint>())) {
  const TimePoint deadline = SteadyClock::now() + options_.timeout;
  for (int attempt = 1;; ++attempt) {
    auto acquired = pool_->acquire(deadline);
    if (!acquired.ok()) return failure(operation, acquired.status());
    std::unique_ptr<RedisConnection> connection = std::move(acquired).value();
    auto result = body(*connection, deadline);
    // A reused connection the server had closed (restart, idle timeout)
    // fails its first round trip before anything was applied: try once more
    // on a new connection.
    const bool stale = connection->broken() && connection->closed_by_peer() &&
                       connection->reused() && connection->round_trips() == 0;
    const bool server_failed = connection->server_failed();
    pool_->release(std::move(connection));
    if (stale && attempt == 1) {
      pool_->retire_idle();  // the other idle connections are probably closed as well
      continue;
    }
    const Status& status = status_of(result);
    if (server_failed) pool_->mark_down(status.ok() ? Status::Unavailable("server failed") : status);
    if (!status.ok()) return failure(operation, status);
    return result;
  }
}

// --- the Store methods ------------------------------------------------------

Status RedisStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  if (key.size() > kMaxBytes) return failure("update", too_large());
  return with_connection("update", [&](RedisConnection& connection, TimePoint deadline) -> Status {
    return update_on(connection, table, key, fn, deadline);
  });
}

Status RedisStore::update_on(RedisConnection& connection, Table table, std::string_view key,
                             const UpdateFunction& fn, TimePoint deadline) {
  const std::string entry = data_key(table, key);
  auto read = read_entry(connection, entry, deadline);
  if (!read.ok()) return read.status();
  std::optional<std::string> current = std::move(read).value();
  for (int attempt = 1;; ++attempt) {
    std::optional<std::string> value = current;
    auto decided = run_update_function(fn, value);
    if (!decided.ok()) return decided.status();
    const UpdateOutcome outcome = decided.value();
    const bool write = outcome.verdict == UpdateOutcome::Verdict::kWrite;
    // A keep (or an erase of an absent entry) was a read: one GET, nothing to undo.
    if (outcome.verdict == UpdateOutcome::Verdict::kKeep || (!write && !current)) return Status::Ok();
    if (write && !value) {
      return Status::InvalidArgument("the update function asked to write an absent value");
    }
    if (write && value->size() > kMaxBytes) return too_large();
    const std::string expiry = write ? expiry_text(outcome.expires_at) : std::string();
    const Args cas{"EVALSHA", connection.cas_script_sha(), "2", entry, index_key(table),
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
                                 std::to_string(attempt) + " attempts in " + ms_text(options_.timeout));
    }
  }
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
    return connection.check_transaction(replies.value());
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
    return connection.check_transaction(replies.value());
  });
}

Result<std::vector<StoreEntry>> RedisStore::scan(Table table, std::string_view after,
                                                 std::size_t limit) {
  if (limit == 0) return std::vector<StoreEntry>();
  if (after.size() > kMaxBytes) return failure("scan", too_large());
  return with_connection(
      "scan",
      [&](RedisConnection& connection, TimePoint deadline) -> Result<std::vector<StoreEntry>> {
        std::vector<StoreEntry> out;
        std::string start = "(" + std::string(after);
        for (int round = 0; round < kMaxScanRounds; ++round) {
          auto ended = scan_round(connection, table, start, std::min(limit - out.size(), kScanBudget),
                                  out, deadline);
          if (!ended.ok()) return ended.status();
          if (ended.value() || out.size() >= limit) return out;
        }
        return Status::Unavailable("gave up after " + std::to_string(kMaxScanRounds) +
                                   " rounds of expired index members");
      });
}

Result<bool> RedisStore::scan_round(RedisConnection& connection, Table table, std::string& start,
                                    std::size_t wanted, std::vector<StoreEntry>& out,
                                    TimePoint deadline) {
  const std::string& prefix = data_prefixes_[static_cast<std::size_t>(table)];
  const std::string wanted_text = std::to_string(wanted);
  const std::string budget = std::to_string(kScanBudget);
  auto replies = connection.round_trip(
      {{"EVAL", redis::kScanScript, "1", index_key(table), prefix, start, wanted_text, budget}},
      deadline);
  if (!replies.ok()) return replies.status();
  const redisReply& reply = *replies.value()[0];
  if (Status s = connection.check_reply(reply); !s.ok()) return s;
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
  start = std::string(reply_text(*reply.element[1]));
  return reply.element[0]->integer == 1;
}

Result<std::uint64_t> RedisStore::count(Table table) {
  const std::string& index = index_key(table);
  return with_connection(
      "count", [&](RedisConnection& connection, TimePoint deadline) -> Result<std::uint64_t> {
        auto replies = connection.round_trip({{"ZCARD", index}}, deadline);
        if (!replies.ok()) return replies.status();
        const redisReply& reply = *replies.value()[0];
        if (Status s = connection.check_reply(reply); !s.ok()) return s;
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
    if (Status s = connection.check_reply(reply); !s.ok()) return s;
    if (!redis::is_status(reply, "PONG")) return Status::IoError("unexpected reply to PING");
    return Status::Ok();
  });
}

}  // namespace greylist
