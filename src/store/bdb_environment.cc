#include "store/bdb_environment.h"

#include <db_cxx.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "store/bdb_diagnostics.h"
#include "store/bdb_directory.h"
#include "store/bdb_failchk.h"
#include "store/bdb_region_space.h"
#include "util/log.h"

namespace greylist {
namespace {

using bdb::errno_text;

constexpr int kFileMode = 0600;
// Small enough that a quiet site does not keep tens of MB of log around
// between checkpoints, large enough that a busy one does not switch files
// every few seconds.
constexpr u_int32_t kLogFileBytes = 1024 * 1024;
// Each front-end thread has at most one transaction open at a time.
constexpr u_int32_t kMaxTransactions = 1000;
constexpr u_int32_t kEnvironmentFlags =
    DB_INIT_TXN | DB_INIT_MPOOL | DB_INIT_LOG | DB_INIT_LOCK | DB_THREAD;

// After Berkeley DB declared the environment failed (DB_RUNRECOVERY: a log
// file it could not create or write, a damaged page), the owner reopens it
// with recovery: at once the first time, then after 1, 2, 4 ... up to 300 s
// while failures follow each other; one 10 minutes after the last reopen
// starts over.
constexpr std::chrono::seconds kMaxReopenDelay{300};
constexpr std::chrono::minutes kReopenForgiven{10};
// Reopens that keep failing (a damaged page met again at once) stop after
// this many, as each leaves the failed environment's memory behind.
constexpr unsigned kMaxReopens = 8;
// A reopen waits until the directory takes writes again (room for a
// checkpoint, checked at most this often).
constexpr std::chrono::seconds kProbeInterval{1};
constexpr std::uint64_t kRoomToReopen = kLogFileBytes / 4;

std::chrono::seconds reopen_delay(unsigned attempts) {
  if (attempts == 0) return std::chrono::seconds(0);
  if (attempts > 9) return kMaxReopenDelay;
  return std::min(kMaxReopenDelay, std::chrono::seconds(std::int64_t{1} << (attempts - 1)));
}

}  // namespace

void BdbEnvironment::DbCloser::operator()(Db* db) const noexcept {
  const int ret = db->close(0);
  if (ret != 0) log_error(std::string("berkeley db: closing a database failed: ") + db_strerror(ret));
  delete db;
}

void BdbEnvironment::DbEnvCloser::operator()(DbEnv* env) const noexcept {
  const int ret = env->close(0);
  if (ret != 0) {
    log_error(std::string("berkeley db: closing the environment failed: ") + db_strerror(ret));
  }
  delete env;
}

BdbEnvironment::BdbEnvironment(BdbOptions options, BdbDirectory& directory)
    : options_(std::move(options)), directory_(directory) {}

BdbEnvironment::~BdbEnvironment() { close(); }

bool BdbEnvironment::joined() const { return directory_.joined(); }

Status BdbEnvironment::open() {
  Status opened = joined() ? join() : open_with_recovery(true);
  for (Table table : {Table::kTriplets, Table::kClients}) {
    if (opened.ok()) opened = open_table(table);
  }
  if (opened.ok()) handles_usable_ = true;
  return opened;
}

Result<BdbEnvironment::EnvPtr> BdbEnvironment::configured_env() const {
  EnvPtr env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(BdbDiagnostics::on_error);
  // Berkeley DB keeps the pointer: options_ outlives the environment.
  env->set_errpfx(options_.directory.c_str());
  env->set_msgcall(BdbDiagnostics::on_message);

  int ret = 0;
  if (options_.cache_bytes > 0) {
    constexpr std::size_t kGiB = std::size_t{1} << 30;
    ret = env->set_cachesize(static_cast<u_int32_t>(options_.cache_bytes / kGiB),
                             static_cast<u_int32_t>(options_.cache_bytes % kGiB), 1);
    if (ret != 0) return failure("set cache size", ret);
  }
  if ((ret = env->set_lg_max(kLogFileBytes)) != 0) return failure("set log file size", ret);
  if ((ret = env->set_lg_filemode(kFileMode)) != 0) return failure("set log file mode", ret);
  if ((ret = env->set_tx_max(kMaxTransactions)) != 0) return failure("set transaction limit", ret);
  if ((ret = env->set_lk_detect(DB_LOCK_DEFAULT)) != 0) {
    return failure("set deadlock detection", ret);
  }
  if ((ret = env->set_timeout(bdb::kLockTimeoutMicros, DB_SET_LOCK_TIMEOUT)) != 0) {
    return failure("set lock timeout", ret);
  }
  if ((ret = env->set_thread_count(bdb::kThreadSlots)) != 0) return failure("set thread count", ret);
  if ((ret = env->set_isalive(bdb::process_is_alive)) != 0) {
    return failure("set is-alive check", ret);
  }
  if (options_.sync == BdbOptions::Sync::kCrashSafe) {
    // The log is written to the OS at commit but not flushed to disk: a
    // process crash loses nothing, a power cut may lose the last commits.
    if ((ret = env->set_flags(DB_TXN_WRITE_NOSYNC, 1)) != 0) return failure("set sync mode", ret);
  }
  if ((ret = env->log_set_config(DB_LOG_AUTO_REMOVE, 1)) != 0) {
    return failure("enable log removal", ret);
  }
  return env;
}

// A joining process attaches to the owner's region files as they are.
Status BdbEnvironment::join() {
  auto env = configured_env();
  if (!env.ok()) return env.status();
  const int ret = env.value()->open(options_.directory.c_str(), kEnvironmentFlags, kFileMode);
  if (ret == ENOENT) {
    return Status::Unavailable(
        "database directory " + options_.directory +
        " is in use by a process that keeps its environment private (it started with too "
        "little free disk space for shared regions): it cannot be joined while it runs");
  }
  if (ret != 0) return failure("join the environment of the process using it", ret);
  env_ = std::move(env).value();
  return Status::Ok();
}

// The regions (cache, locks, log buffer) are either in __db.NNN files,
// mmap()ed by every process of the environment (a joining tool needs them),
// or in this process's memory (DB_PRIVATE, nobody can join): files only when
// the disk has room for them and their space could be reserved (see
// bdb_region_space.h). The owner's flocks make it the environment's only
// user while DB_RECOVER runs (and while DB_PRIVATE lasts), which both
// require.
Status BdbEnvironment::open_with_recovery(bool allow_shared) {
  auto env = configured_env();
  if (!env.ok()) return env.status();
  // Regions of an earlier owner are stale: recovery starts from the log.
  bdb::remove_region_files(options_.directory);
  const u_int32_t flags = kEnvironmentFlags | DB_CREATE | DB_RECOVER;
  shared_regions_ = allow_shared && bdb::room_for_region_files(options_.directory, options_.cache_bytes);
  const int ret = env.value()->open(options_.directory.c_str(),
                                    shared_regions_ ? flags : flags | DB_PRIVATE, kFileMode);
  if (ret != 0) {
    open_error_ = ret;
    return failure("open environment (with recovery)", ret);
  }
  env_ = std::move(env).value();
  if (!shared_regions_) return Status::Ok();
  const int error = bdb::reserve_region_space(*env_, options_.directory);
  if (error == 0) return Status::Ok();
  log_warning("berkeley db in " + options_.directory +
              ": cannot allocate the environment's region files (" + errno_text(error) +
              "); keeping the regions in memory, so greylistctl cannot join while this "
              "process runs");
  env_.reset();
  bdb::remove_region_files(options_.directory);
  shared_regions_ = false;
  return open_with_recovery(false);
}

Status BdbEnvironment::open_table(Table table) {
  std::unique_ptr<Db, DbCloser> db(new Db(env_.get(), DB_CXX_NO_EXCEPTIONS));
  // A joining process finds the owner's databases; it creates nothing.
  const u_int32_t flags = DB_AUTO_COMMIT | DB_THREAD | (joined() ? 0 : DB_CREATE);
  const int ret = db->open(nullptr, BdbDirectory::table_file(table), nullptr, DB_BTREE, flags,
                           kFileMode);
  if (ret != 0) {
    open_error_ = ret;
    return failure("open", table, ret);
  }
  dbs_[static_cast<std::size_t>(table)] = std::move(db);
  return Status::Ok();
}

void BdbEnvironment::close() {
  {
    std::lock_guard guard(reopen_mutex_);
    closing_ = true;
  }
  if (handles_usable_ && env_ && dbs_[0] && dbs_[1]) {
    if (Status s = checkpoint(); !s.ok()) log_error(s.message());
  }
  close_handles();
}

void BdbEnvironment::close_handles() {
  for (auto& db : dbs_) db.reset();
  env_.reset();
}

Status BdbEnvironment::checkpoint() {
  // With DB_LOG_AUTO_REMOVE the checkpoint also removes the log files that
  // recovery no longer needs.
  int reserve_error = 0;
  const int ret = with_handles([&] {
    const int checkpointed = env_->txn_checkpoint(0, 0, 0);
    // A region may have grown (Berkeley DB extends region files sparsely).
    if (checkpointed == 0 && shared_regions_) {
      reserve_error = bdb::reserve_region_space(*env_, options_.directory);
    }
    return checkpointed;
  });
  if (ret != 0) return failure("checkpoint", ret);
  if (reserve_error != 0) {
    log_warning("berkeley db in " + options_.directory +
                ": cannot allocate the environment's region files: " + errno_text(reserve_error));
  }
  return Status::Ok();
}

void BdbEnvironment::end_dead_lock_waits(bool run_failchk) {
  const int failed = with_handles([&] {
    const int expired = env_->lock_detect(0, DB_LOCK_EXPIRE, nullptr);
    return expired != 0 || !run_failchk ? expired : bdb::release_dead_lockers(*env_);
  });
  if (failed != 0) log_error(failure("end lock waits of dead processes", failed).message());
}

Status BdbEnvironment::failure(std::string_view operation, int error,
                               std::string_view thrown) const {
  return bdb::to_status(options_.directory, operation, error, thrown);
}

Status BdbEnvironment::failure(std::string_view operation, Table table, int error,
                               std::string_view thrown) const {
  return failure(std::string(operation) + " on " + BdbDirectory::table_file(table), error, thrown);
}

// --- failure and reopening ---------------------------------------------------

bool BdbEnvironment::mark_failed_locked(int error) {
  if (joined() || !bdb::environment_failed(error) || !handles_usable_.exchange(false)) return false;
  failures_.fetch_add(1);
  // The panic makes every call fail fast and the close before the reopen
  // write nothing from memory: only recovery writes.
  if (error != DB_RUNRECOVERY) env_->set_flags(DB_PANIC_ENVIRONMENT, 1);
  return true;
}

void BdbEnvironment::after_failure(int error, bool first_to_fail) {
  if (first_to_fail) {
    log_error("berkeley db in " + options_.directory + ": the environment failed (" +
              db_strerror(error) + "); answering by --on-error until it is reopened with "
              "recovery, once the directory takes writes again");
  }
  if (!joined() && bdb::environment_failed(error)) reopen_after_failure();
}

bool BdbEnvironment::usable_or_reopened() {
  if (handles_usable_.load(std::memory_order_acquire)) return true;
  reopen_after_failure();
  return handles_usable_.load(std::memory_order_acquire);
}

void BdbEnvironment::reopen_after_failure() {
  std::unique_lock guard(reopen_mutex_, std::try_to_lock);
  if (!guard.owns_lock() || closing_ || joined() || handles_usable_.load()) return;
  const auto now = std::chrono::steady_clock::now();
  if (!may_reopen_locked(now)) return;
  ++reopen_attempts_;
  last_reopen_ = now;
  Status reopened;
  {
    std::unique_lock lock(handles_mutex_);  // calls in progress end first (they fail fast)
    reopened = reopen_locked();
  }
  if (reopened.ok()) {
    handles_usable_.store(true, std::memory_order_release);
    log_warning("berkeley db in " + options_.directory +
                ": reopened the environment with recovery; serving again");
  } else {
    log_error(reopened.message() + "; next attempt in " +
              std::to_string(reopen_delay(reopen_attempts_).count()) + " s");
  }
}

bool BdbEnvironment::may_reopen_locked(std::chrono::steady_clock::time_point now) {
  if (reopen_attempts_ > 0) {
    if (now - last_reopen_ >= kReopenForgiven) {
      reopen_attempts_ = 0;
    } else if (now - last_reopen_ < reopen_delay(reopen_attempts_)) {
      return false;
    }
  }
  if (reopen_attempts_ >= kMaxReopens) {
    if (reopen_attempts_ == kMaxReopens) {
      ++reopen_attempts_;
      log_error("berkeley db in " + options_.directory + ": the environment failed again after " +
                std::to_string(kMaxReopens) + " reopenings; no more attempts: answering by "
                "--on-error until the daemon is restarted (check the files with db5.3_verify)");
    }
    return false;
  }
  if (now - last_probe_ < kProbeInterval) return false;
  last_probe_ = now;
  return BdbDirectory::takes_writes(options_.directory, kRoomToReopen);
}

Status BdbEnvironment::reopen_locked() {
  close_handles();
  // Recovery needs every joined tool detached: take the gate, without
  // waiting (a tool attached to a failed environment gets errors and exits).
  const int locked = directory_.close_gate_now();
  if (locked != 0) {
    return Status::Unavailable("berkeley db in " + options_.directory +
                               ": cannot reopen the environment while a tool such as "
                               "greylistctl is attached (" + directory_.gate_path() + ": " +
                               errno_text(locked) + ")");
  }
  Status reopened = open_with_recovery(true);
  for (Table table : {Table::kTriplets, Table::kClients}) {
    if (reopened.ok()) reopened = open_table(table);
  }
  if (!reopened.ok()) close_handles();
  directory_.open_gate();
  return reopened;
}

}  // namespace greylist
