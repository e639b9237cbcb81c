// BdbStore: the Store in a Berkeley DB transactional environment (default,
// embedded).
//
// Files in the directory: greylist-milter.lock (one owner per directory),
// greylist-milter.users.lock (the environment gate, see Sharing below),
// triplets.db and clients.db (B-trees, keys and values stored as given),
// log.NNNNNNNNNN (write-ahead log) and, while a process has it open,
// __db.NNN (the environment's regions: cache, locks). All are created with
// mode 0600. The region files get their disk space when they are created,
// up to the size they may grow to (the cache plus 25%, and a few MB), so a
// full disk later makes writes fail, never the process crash (SIGBUS on a
// sparse mapping); when the file system lacks room for them at open (that
// plus 64 MB), the owner keeps its regions in process memory instead, logs
// why, and cannot be joined. The db5.3_* tools (db5.3_verify,
// db5.3_dump, db5.3_stat) work on the directory with -h while no process
// has it open.
//
// Sharing: one process owns the directory: it holds an exclusive flock on
// greylist-milter.lock for as long as the store is open, and ran recovery
// when it opened it. With Sharing::kJoinIfBusy a second process (the admin
// tool, greylistctl) joins the owner's environment instead of being
// refused: Berkeley DB's locking then arbitrates between the processes
// exactly as between threads. Recovery must never run while another process
// is attached, so a joined process holds a shared flock on
// greylist-milter.users.lock for as long as it is attached, and an owner
// holds that lock exclusively from before it takes the directory until its
// databases are open: an owner starting while a tool is attached waits for
// the tool (at most gate_timeout), and a tool never joins an environment
// being (or still to be) recovered. A joined process killed inside a
// transaction (kill -9, a crash) leaves that transaction's locks behind:
// the owner's maintenance thread runs failchk every second, which aborts
// that transaction and releases its locks (or, when the process died inside
// the library, fails the environment, which is then reopened with
// recovery). No lock wait lasts longer than 2 s: a timed-out wait runs
// failchk and tries once more, then fails (kUnavailable). Tools should
// still keep their transactions short.
//
// Durability: every update() that writes, put() and erase() is one
// transaction; get() and an update() whose function keeps the entry read
// committed data without a transaction (nothing logged, page locks held
// only during the read). When a write returns ok, the change survives a
// crash of the process (kill -9) in both modes; with Sync::kFull it also
// survives a power cut (the log is flushed to disk at every commit;
// concurrent commits share one flush). open() runs
// recovery, so a directory left behind by a killed process opens with every
// committed change and none of the uncommitted ones.
//
// Thread-safety: every method may be called from many threads at once.
// Conflicting transactions are resolved by Berkeley DB's deadlock detector;
// the loser is retried (a bounded number of times), which is why update()
// may call its function more than once. An update function runs while the
// key's page is write-locked: it must not call the store (that would wait on
// itself forever) and should be quick.
//
// Process: open the store as the user that will use it (files are created
// owned by the caller, and later log files are created as the store runs),
// and after daemonizing: a forked child must not use, close or destroy a
// store its parent opened.
//
// Errors: no method throws or crashes on a database failure. A non-ok Status
// names the directory, the operation and Berkeley DB's reason:
//   kUnavailable  lock conflicts that persisted through every retry, or an
//                 environment that failed: Berkeley DB said so
//                 (DB_RUNRECOVERY: a log file it could not create, a
//                 damaged page), or a write failed (disk full, I/O error:
//                 the cache may then hold half of a failed transaction).
//                 The owner then reopens the environment itself with
//                 recovery, from the files, once the directory takes
//                 writes again (checked at most once a second), with
//                 pauses of 1 s doubling to 300 s between reopenings that
//                 fail again, at most 8 in a row, never while a tool is
//                 joined. Calls made meanwhile fail at once with
//                 kUnavailable. Service resumes without a restart once the
//                 cause is gone (space or permission back);
//   kCorruption   a database file that Berkeley DB found damaged; from
//                 open(), an environment beyond recovery (see open());
//   kIoError      anything else the database or the OS reported (disk full,
//                 I/O error), and an exception thrown by an update function;
//   kInvalidArgument  an update function that asked to write an absent value,
//                 or a key or value of 4 GiB or more.
// Berkeley DB's own diagnostics go to the process log (util/log.h), error
// level, prefixed "berkeley db: ".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "greylist/store.h"

class Db;
class DbEnv;

namespace greylist {

struct BdbOptions {
  // Database directory. Must exist and be writable by the calling user; it is
  // not created (the package creates it with the right owner).
  std::string directory;

  enum class Sync {
    kCrashSafe,  // committed changes survive a process crash, not a power cut
    kFull,       // committed changes survive a power cut: fsync per commit
  };
  Sync sync = Sync::kCrashSafe;

  // Berkeley DB page cache (shared by both tables). Only applied when the
  // environment is created; 0 keeps Berkeley DB's default.
  std::size_t cache_bytes = 64 * 1024 * 1024;

  // How often a background thread checkpoints (writes the cache to the
  // database files and removes log files no longer needed). Zero disables
  // the periodic checkpoint; one is still taken when the store is destroyed.
  std::chrono::seconds checkpoint_interval{60};

  enum class Sharing {
    // The daemon: owns the directory or fails. A second owner is refused
    // (kUnavailable "... is in use by another process ..."), as is an owner
    // that waited gate_timeout for attached tools to leave.
    kExclusive,
    // Tools: when no process owns the directory, as kExclusive (take it, run
    // recovery; the daemon cannot start meanwhile). When one does, join its
    // environment (same subsystems, no recovery, nothing created): reads and
    // writes are then shared with the owner, transaction by transaction.
    kJoinIfBusy,
  };
  Sharing sharing = Sharing::kExclusive;

  // How long open() waits for the environment gate: an owner for joined
  // processes to detach, a joining process for an owner's recovery to end.
  std::chrono::milliseconds gate_timeout{30000};
};

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

  // What move_aside() did: the new subdirectory of the database directory
  // ("corrupt-YYYYMMDD-HHMMSS", local time) and the files moved into it.
  struct MovedAside {
    std::string subdirectory;
    std::vector<std::string> files;
  };
  // Moves every file of the environment in `directory` (the tables, log.*,
  // __db.* region files; not the lock files, nor anything else) into a new
  // subdirectory, mode 0700, by rename(): nothing is deleted or copied. For
  // an environment open() reported as kCorruption; the next open() starts
  // empty. Fails (kUnavailable) while a process uses the directory, and
  // with kIoError naming the file that could not be moved (those moved
  // before it stay in the subdirectory).
  static Result<MovedAside> move_aside(const std::string& directory);

  // Stops the checkpoint thread, checkpoints, closes the databases and the
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

  // The directory given to open().
  std::string directory() const { return options_.directory; }

  // True when open() joined the environment of another process that owns
  // the directory (Sharing::kJoinIfBusy); false when this store owns it.
  bool joined() const { return joined_; }

  // Writes the cache to the database files, records a checkpoint and removes
  // the log files no longer needed for recovery. Thread-safe.
  Status checkpoint();

 private:
  explicit BdbStore(BdbOptions options);

  // Takes the directory: as its owner (flock held), or joined (kJoinIfBusy
  // and another process owns it). Then opens the environment accordingly.
  Status acquire_directory();
  // recover: the owner's open (with recovery), else a joining process's.
  // allow_shared: the owner may put its regions in files (joinable).
  Status open_environment(bool recover, bool allow_shared = true);
  // Whether the file system has room for shared region files (else the
  // owner keeps its regions private, logging why).
  bool room_for_region_files() const;
  // Allocates the region files' disk space, current and up to each
  // region's maximum (see the .cc). 0 or errno.
  int reserve_region_space() const;
  Status open_database(Table table);
  // The committed value under key (nullopt when absent), read without a
  // transaction; lock conflicts are retried. 0 or a Berkeley DB code. Call
  // inside with_handles.
  int read_committed(Table table, std::string_view key, std::optional<std::string>& value);
  void close_handles();
  // Runs fn() (a Berkeley DB call returning its code) with the handles
  // pinned; after DB_RUNRECOVERY, starts a reopen. Returns at once, without
  // running fn, while the handles are being reopened or could not be.
  template <typename Fn>
  int with_handles(Fn&& fn);
  // Closes and reopens the owner's handles with recovery, unless another
  // thread is at it, the pause after the last attempt has not passed, or a
  // tool is joined.
  void reopen_after_failure();
  void run_maintenance();
  void close_all();
  Db* db(Table table) const { return dbs_[static_cast<std::size_t>(table)].get(); }
  // The Status for a Berkeley DB error code (or one of the .cc's own codes).
  Status failure(const char* operation, Table table, int error,
                 std::string_view thrown = {}) const;
  Status failure(const char* operation, int error, std::string_view thrown = {}) const;

  // Close the handle (logging a failure) and delete it.
  struct DbCloser {
    void operator()(Db* db) const noexcept;
  };
  struct DbEnvCloser {
    void operator()(DbEnv* env) const noexcept;
  };

  const BdbOptions options_;
  int lock_fd_ = -1;  // holds the flock on greylist-milter.lock (owner only)
  int gate_fd_ = -1;  // greylist-milter.users.lock: shared flock while joined
  bool joined_ = false;
  // The owner's regions are in __db.NNN files (joinable), not private memory.
  bool shared_regions_ = false;
  std::unique_ptr<DbEnv, DbEnvCloser> env_;
  std::unique_ptr<Db, DbCloser> dbs_[2];  // indexed by Table
  int open_error_ = 0;  // Berkeley DB's code when open() failed

  // Shared by every call using env_/dbs_, exclusive while they are reopened.
  std::shared_mutex handles_mutex_;
  std::atomic<bool> handles_usable_{false};
  std::mutex reopen_mutex_;  // one reopen at a time; guards the four below
  bool closing_ = false;     // the destructor runs: no more reopening
  unsigned reopen_attempts_ = 0;
  std::chrono::steady_clock::time_point last_reopen_{};
  std::chrono::steady_clock::time_point last_probe_{};

  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wakeup_;
  bool stopping_ = false;  // guarded by checkpoint_mutex_
  std::thread maintenance_thread_;
};

}  // namespace greylist
