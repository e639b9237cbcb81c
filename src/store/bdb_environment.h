// BdbEnvironment: a Berkeley DB transactional environment and its two
// tables, as a BdbStore uses them.
//
// The owner opens it with recovery (DB_RECOVER), its regions in region files
// when the disk has room for them (joinable), else in process memory; a
// joining process attaches to the owner's regions. When Berkeley DB declares
// the environment failed (DB_RUNRECOVERY) or a write fails (disk full, I/O
// error), the owner closes it and reopens it with recovery from the files,
// once the directory takes writes again, with growing pauses between
// attempts that fail, at most 8 in a row, never while a tool is joined;
// calls made meanwhile fail at once (kEnvironmentDown).
// Thread-safety: with_handles(), checkpoint() and end_dead_lock_waits() may
// be called from many threads at once; open() and close() from one thread
// while no other call runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "greylist/status.h"
#include "greylist/store.h"
#include "store/bdb_options.h"
#include "store/bdb_status.h"

class Db;
class DbEnv;

namespace greylist {

class BdbDirectory;

class BdbEnvironment {
 public:
  // `directory` (acquired) must outlive the environment.
  BdbEnvironment(BdbOptions options, BdbDirectory& directory);
  // close()
  ~BdbEnvironment();
  BdbEnvironment(const BdbEnvironment&) = delete;
  BdbEnvironment& operator=(const BdbEnvironment&) = delete;

  // Opens the environment, with recovery as the directory's owner or joined
  // to the owner's, then both tables (created by the owner when missing).
  // The Status names the directory and the step that failed.
  Status open();
  // Berkeley DB's code when open() failed, 0 if it did not fail there.
  int open_error() const { return open_error_; }
  // The owner's regions are in region files (joinable), not private memory.
  bool shared_regions() const { return shared_regions_; }
  bool joined() const;

  // Runs fn() (Berkeley DB calls on env() and table(), returning 0 or a
  // code) with the handles pinned. Returns kEnvironmentDown at once, without
  // running fn, while the handles are being reopened or could not be; after a
  // code that failed the environment, starts the reopen.
  template <typename Fn>
  int with_handles(Fn&& fn);
  // How many times the environment was declared failed (see with_handles);
  // each failure loses the commits whose log records were not written yet.
  std::uint64_t failures() const { return failures_.load(); }

  // Inside with_handles only.
  DbEnv& env() const { return *env_; }
  Db& table(Table table) const { return *dbs_[static_cast<std::size_t>(table)]; }

  // Writes the cache to the database files, records a checkpoint, removes
  // the log files no longer needed for recovery, and (shared regions) backs
  // the regions' growth with disk space.
  Status checkpoint();
  // For the owner of shared regions, at each maintenance tick: ends lock
  // waits past their timeout (Berkeley DB checks only when asked) and, with
  // `run_failchk`, releases the locks of dead processes. Failures are logged.
  void end_dead_lock_waits(bool run_failchk);

  // Stops reopening, checkpoints when the handles are usable, and closes the
  // tables and the environment (failures are logged).
  void close();

  // A Status for a Berkeley DB (or bdb_status.h) code, naming the directory
  // and the operation (and the table's file).
  Status failure(std::string_view operation, int error, std::string_view thrown = {}) const;
  Status failure(std::string_view operation, Table table, int error,
                 std::string_view thrown = {}) const;

 private:
  struct DbCloser {
    void operator()(Db* db) const noexcept;
  };
  struct DbEnvCloser {
    void operator()(DbEnv* env) const noexcept;
  };
  using EnvPtr = std::unique_ptr<DbEnv, DbEnvCloser>;

  // A configured, unopened environment handle, or the failure.
  Result<EnvPtr> configured_env() const;
  Status join();
  // allow_shared: the regions may go into region files.
  Status open_with_recovery(bool allow_shared);
  Status open_table(Table table);
  void close_handles();

  // After fn() returned `error` (not 0) inside with_handles: whether this
  // call is the first to see the environment fail (then it marks it so).
  bool mark_failed_locked(int error);
  // Logs the first failure, starts the reopen.
  void after_failure(int error, bool first_to_fail);
  // Whether the handles are usable, reopening them first if they are not.
  bool usable_or_reopened();
  // Closes and reopens the owner's handles with recovery, unless another
  // thread is at it, the pause after the last attempt has not passed, or a
  // tool is joined.
  void reopen_after_failure();
  // reopen_mutex_ held: whether a reopen may start now.
  bool may_reopen_locked(std::chrono::steady_clock::time_point now);
  Status reopen_locked();

  const BdbOptions options_;
  BdbDirectory& directory_;
  bool shared_regions_ = false;
  EnvPtr env_;
  std::unique_ptr<Db, DbCloser> dbs_[2];  // indexed by Table
  int open_error_ = 0;

  // Shared by every call using env_/dbs_, exclusive while they are reopened.
  std::shared_mutex handles_mutex_;
  std::atomic<bool> handles_usable_{false};
  std::atomic<std::uint64_t> failures_{0};
  std::mutex reopen_mutex_;  // one reopen at a time; guards the four below
  bool closing_ = false;     // close() runs: no more reopening
  unsigned reopen_attempts_ = 0;
  std::chrono::steady_clock::time_point last_reopen_{};
  std::chrono::steady_clock::time_point last_probe_{};
};

template <typename Fn>
int BdbEnvironment::with_handles(Fn&& fn) {
  if (!handles_usable_.load(std::memory_order_acquire) && !usable_or_reopened()) {
    return bdb::kEnvironmentDown;
  }
  int ret;
  bool first_to_fail = false;
  {
    // Never waits: a reopen in progress holds the lock exclusively.
    std::shared_lock lock(handles_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || !handles_usable_.load(std::memory_order_acquire)) {
      return bdb::kEnvironmentDown;
    }
    ret = fn();
    if (ret != 0) first_to_fail = mark_failed_locked(ret);
  }
  if (ret != 0) after_failure(ret, first_to_fail);
  return ret;
}

}  // namespace greylist
