// Store: the persistent key/value state behind the core.
//
// Two tables: triplets (one entry per client-network/sender/recipient) and
// clients (auto-whitelist counters). Keys and values are opaque byte strings;
// the core's RecordCodec (record_codec.h) defines their encoding, so every
// store holds exactly the same bytes. Implementations: BdbStore (default,
// embedded), MemoryStore (unit tests only), RedisStore (shared state).
//
// Thread-safety: every method may be called from many threads at once.
// Errors: every method returns a non-ok Status instead of throwing; a failed
// call leaves the stored data as it was before the call.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/clock.h"
#include "greylist/deferred_commits.h"
#include "greylist/status.h"

namespace greylist {

enum class Table : std::uint8_t { kTriplets = 0, kClients = 1 };

// What an update function asks the store to do with the entry.
struct UpdateOutcome {
  enum class Verdict { kKeep, kWrite, kErase };
  Verdict verdict = Verdict::kKeep;
  // With kWrite: when the entry may be forgotten (epoch seconds). Stores with
  // native expiry (Redis TTL) use it; others rely on the expiry sweep.
  EpochSeconds expires_at = 0;
};

// Called with the current value (nullopt when absent). It may modify `value`
// and says whether to write it back. It may be called more than once for one
// update (a store retries after a lock conflict), so it must depend only on
// its argument and on state it recomputes each call. It runs while the key
// is locked: it must not call the store (that would wait for itself).
using UpdateFunction = std::function<UpdateOutcome(std::optional<std::string>& value)>;

struct StoreEntry {
  std::string key;
  std::string value;
};

class Store {
 public:
  virtual ~Store() = default;

  // Reads key, calls fn, applies its verdict: all atomically with respect to
  // every other update of the same key (also from other processes or hosts
  // sharing the store). When this returns ok, a kWrite/kErase is durable to
  // the degree the store is configured for, except on a thread inside a
  // Scope of this store's deferred_commits(): there it is committed (every
  // reader sees it) and durable only once a flush covered its ticket. On
  // error nothing was changed.
  virtual Status update(Table table, std::string_view key, const UpdateFunction& fn) = 0;

  // The value under key, nullopt when absent.
  virtual Result<std::optional<std::string>> get(Table table, std::string_view key) = 0;

  // Unconditional write / delete (import tools, tests). Erasing an absent
  // key is ok. Durable on return as update() is (deferred inside a Scope).
  virtual Status put(Table table, std::string_view key, std::string_view value,
                     EpochSeconds expires_at) = 0;
  virtual Status erase(Table table, std::string_view key) = 0;

  // Up to `limit` entries with keys strictly greater than `after`, in key
  // order (empty `after` = from the start). Fewer than `limit` entries means
  // the end was reached. Used by the incremental expiry sweep and dumps; an
  // entry may be changed concurrently, so callers re-check under update().
  virtual Result<std::vector<StoreEntry>> scan(Table table, std::string_view after,
                                               std::size_t limit) = 0;

  // Number of entries (may be approximate for large stores).
  virtual Result<std::uint64_t> count(Table table) = 0;

  // Short name for logs and metrics: "bdb", "memory", "redis".
  virtual const char* name() const = 0;

  // Shared commits (greylist/deferred_commits.h), for a front end that can
  // hold its replies until one flush covers many writes; nullptr when the
  // store has none (every write is durable on return). Owned by the store.
  virtual DeferredCommits* deferred_commits() { return nullptr; }
};

}  // namespace greylist
