// BdbStore: the Store in a Berkeley DB transactional environment in one
// directory (the default store, embedded).
//
// Durability: a write (update() that writes, put(), erase()) that returned ok
// survives a killed process, with Sync::kFull also a power cut; open() runs
// recovery. Inside a Scope of deferred_commits(), only once a flush covered
// it (shared commits). One process owns the directory; Sharing::kJoinIfBusy joins it.
// Thread-safety: every method, from many threads at once. update() may call
// its function more than once, with the key's page write-locked: it must be
// quick and must not call the store. Open after daemonizing, as the user that
// will use the files; a forked child must not use its parent's store.
// Errors (never thrown): a Status naming the directory, the operation and
// Berkeley DB's reason. kUnavailable: lock conflicts through every retry, a
// failed environment (the owner reopens it with recovery; calls fail at once
// meanwhile); kCorruption: a damaged file; kInvalidArgument: a write of an
// absent value, 4 GiB or more; kIoError: anything else, an exception from fn.
// Operations (files, sharing, region space, reopening, failchk):
// RELIABILITY.md, "Berkeley DB store".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "greylist/store.h"
#include "store/bdb_directory.h"
#include "store/bdb_options.h"

class DbTxn;

namespace greylist {

class BdbEnvironment;
class BdbMaintenance;
class BdbSharedCommits;

class BdbStore final : public Store {
 public:
  // Opens (creating if needed) the environment and both databases in
  // options.directory, after running recovery. Fails, with a message naming
  // the directory and the reason, when it does not exist or is not a
  // directory (kInvalidArgument), is not writable (kIoError), is in use by
  // another BdbStore in this or another process (kUnavailable: "database
  // directory X is in use by another process (lock file
  // X/greylist-milter.lock)"), or Berkeley DB cannot open it. When the
  // owner's recovery or table open fails because the files are damaged (a
  // corrupt or missing log file, a malformed table) and not because the
  // system refused (permissions, disk full, I/O error: those stay
  // kIoError/kUnavailable), the status is kCorruption, its message ending
  // with Berkeley DB's first diagnostic; nothing has been changed on disk.
  static Result<std::unique_ptr<BdbStore>> open(const BdbOptions& options);

  // What move_aside() did (see BdbMovedAside).
  using MovedAside = BdbMovedAside;
  // Moves every file of the environment in `directory` (the tables, log.*,
  // __db.* region files; not the lock files, nor anything else) into a new
  // subdirectory, mode 0700, by rename(): nothing is deleted or copied. For
  // an environment open() reported as kCorruption; the next open() starts
  // empty. Fails (kUnavailable) while a process uses the directory, and
  // with kIoError naming the file that could not be moved (those moved
  // before it stay in the subdirectory).
  static Result<MovedAside> move_aside(const std::string& directory);

  // Stops the maintenance thread, checkpoints, closes the databases and the
  // environment and releases the directory. Errors are logged. Callers must
  // have finished every call on other threads first.
  ~BdbStore() override;

  BdbStore(const BdbStore&) = delete;
  BdbStore& operator=(const BdbStore&) = delete;

  Status update(Table table, std::string_view key, const UpdateFunction& fn) override;
  Result<std::optional<std::string>> get(Table table, std::string_view key) override;
  // expires_at is not stored: the expiry sweep decides from the record.
  Status put(Table table, std::string_view key, std::string_view value,
             EpochSeconds expires_at) override;
  Status erase(Table table, std::string_view key) override;
  Result<std::vector<StoreEntry>> scan(Table table, std::string_view after,
                                       std::size_t limit) override;
  // Exact: counts the entries of the B-tree (reads every page; for dumps and
  // metrics, not for the request path).
  Result<std::uint64_t> count(Table table) override;
  const char* name() const override { return "bdb"; }
  // Shared commits (BdbSharedCommits): inside its Scope a write returns
  // once committed in the process; see greylist/deferred_commits.h.
  DeferredCommits* deferred_commits() override;

  // The directory given to open().
  std::string directory() const { return options_.directory; }

  // True when open() joined the environment of another process that owns
  // the directory (Sharing::kJoinIfBusy); false when this store owns it.
  bool joined() const { return directory_->joined(); }

  // Writes the cache to the database files, records a checkpoint and removes
  // the log files no longer needed for recovery. Thread-safe.
  Status checkpoint();

 private:
  explicit BdbStore(BdbOptions options);

  // Takes the directory, opens the environment and the tables; a failure of
  // the owner's open on damaged files becomes kCorruption.
  Status open_files();

  // What update()'s first look, without a transaction, found and what the
  // update function made of it.
  struct Plan {
    std::optional<std::string> seen;
    std::optional<std::string> proposed;
    UpdateOutcome outcome;
  };
  // The look (0 or a code; kBodyThrew with *thrown set).
  int look(Table table, std::string_view key, const UpdateFunction& fn, Plan& plan,
           std::string* thrown);
  // The transaction body applying a plan (see update()). *called: whether
  // fn ran inside a transaction attempt.
  int apply(DbTxn* txn, Table table, std::string_view key, const UpdateFunction& fn,
            const Plan& plan, bool* called);
  // The committed value under key (nullopt when absent), read without a
  // transaction; lock conflicts are retried. 0 or a Berkeley DB code. Call
  // inside with_handles.
  int read_committed(Table table, std::string_view key, std::optional<std::string>& value);

  const BdbOptions options_;
  // Destroyed last to first: the thread stops, the environment closes, the
  // directory is released.
  std::unique_ptr<BdbDirectory> directory_;
  std::unique_ptr<BdbEnvironment> environment_;
  std::unique_ptr<BdbMaintenance> maintenance_;
  std::unique_ptr<BdbSharedCommits> shared_commits_;  // reset first in the destructor
};

}  // namespace greylist
