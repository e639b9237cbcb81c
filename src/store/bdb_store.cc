#include "store/bdb_store.h"

#include <db_cxx.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <utility>

#include "util/log.h"

namespace greylist {
namespace {

constexpr const char* kLockFileName = "greylist-milter.lock";
constexpr const char* kGateFileName = "greylist-milter.users.lock";
// How often a wait for the environment gate tries again.
constexpr std::chrono::milliseconds kGatePoll{20};
// Environment region files are named __db.001, __db.002, ...
constexpr std::string_view kRegionFilePrefix = "__db.";
// Region bytes beyond the cache (locks, log buffer, transactions, mutexes),
// with room to spare; and the free space kept for the log and the tables.
// (Berkeley DB adds 25% to a cache under 500 MB for its own structures.)
constexpr std::uint64_t kRegionOverheadBytes = 16 * 1024 * 1024;
constexpr std::uint64_t kFreeSpaceKeptBytes = 64 * 1024 * 1024;
constexpr const char* kTableFiles[] = {"triplets.db", "clients.db"};
constexpr int kFileMode = 0600;
// Small enough that a quiet site does not keep tens of MB of log around
// between checkpoints, large enough that a busy one does not switch files
// every few seconds.
constexpr u_int32_t kLogFileBytes = 1024 * 1024;
// Each front-end thread has at most one transaction open at a time.
constexpr u_int32_t kMaxTransactions = 1000;
// A transaction that loses a lock conflict is aborted and retried; conflicts
// are short (one key), so a few retries are plenty and 20 means the
// environment is in trouble.
constexpr int kMaxAttempts = 20;
// A lock wait longer than this fails instead of waiting on: a process that
// died inside a transaction (a killed greylistctl) leaves its locks in the
// shared regions, and they would be waited for for ever. A timed-out wait
// first runs failchk, which releases a dead process's locks and aborts its
// transaction; after kMaxLockTimeouts the call fails (--on-error answers).
constexpr db_timeout_t kLockTimeoutMicros = 2'000'000;
constexpr int kMaxLockTimeouts = 1;
// Slots in Berkeley DB's table of the threads using the environment, which
// failchk needs (an approximate size; it grows when needed).
constexpr u_int32_t kThreadSlots = 256;
// How often the owner of shared regions ends lock waits past their timeout
// (Berkeley DB checks timeouts only when asked) and looks for locks of dead
// processes by itself.
constexpr std::chrono::milliseconds kMaintenanceTick{250};
constexpr int kTicksPerFailchk = 4;

// Results of a transaction body that are ours, not Berkeley DB's (its codes
// are below -30000, errno values positive).
constexpr int kBodyThrew = -1;
constexpr int kWriteOfAbsentValue = -2;
constexpr int kKeyTooLarge = -3;
constexpr int kEnvironmentDown = -4;  // being reopened, or a reopen failed

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
// A reopen waits until the directory takes writes again (checked at most
// this often; see writable_again).
constexpr std::chrono::seconds kProbeInterval{1};

std::chrono::seconds reopen_delay(unsigned attempts) {
  if (attempts == 0) return std::chrono::seconds(0);
  if (attempts > 9) return kMaxReopenDelay;
  return std::min(kMaxReopenDelay, std::chrono::seconds(std::int64_t{1} << (attempts - 1)));
}

// Codes after which the environment's memory cannot be trusted: Berkeley
// DB's own verdict, or a write that failed (a failed commit's abort may not
// have been able to log its undo). Recovery from the files rebuilds it.
bool environment_failed(int error) {
  switch (error) {
    case DB_RUNRECOVERY:
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EFBIG:
    case EROFS:
    case EACCES:
    case EPERM:
      return true;
    default:
      return false;
  }
}

// Whether `dir` takes writes again: room for a checkpoint (256 KiB), and a
// probe file can be created, written and removed.
bool writable_again(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0 ||
      std::uint64_t{fs.f_bavail} * fs.f_frsize < kLogFileBytes / 4) {
    return false;
  }
  const std::string probe = dir + "/greylist-milter.probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  const std::string block(4096, '\0');
  const bool written = ::write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size());
  const bool closed = ::close(fd) == 0;
  ::unlink(probe.c_str());
  return written && closed;
}

// What Berkeley DB says while a store opens in this thread, kept to tell a
// damaged environment from a refusing system (see looks_damaged).
thread_local std::vector<std::string>* t_open_diagnostics = nullptr;

bool is_lock_conflict(int error) {
  return error == DB_LOCK_DEADLOCK || error == DB_LOCK_NOTGRANTED;
}

// failchk's question. Threads of this process end only after their calls
// into the library have; another process is alive while it exists.
int process_is_alive(DbEnv*, pid_t pid, db_threadid_t, u_int32_t) {
  if (pid == ::getpid()) return 1;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

// After a lock wait timed out: releases the locks of dead processes
// (failchk, one thread at a time). 0, or DB_RUNRECOVERY when a process died
// inside the library and only recovery can repair the regions.
int release_dead_lockers(DbEnv& env) {
  static std::mutex one_at_a_time;
  std::lock_guard lock(one_at_a_time);
  return env.failchk(0);
}

// Whether a call that lost a lock conflict may try again: a deadlock, up to
// kMaxAttempts; a timed-out wait, after failchk, up to kMaxLockTimeouts.
// Sets `ret` to failchk's error when it has one.
bool retry_after_conflict(DbEnv& env, int& ret, int attempt, int& timeouts) {
  if (!is_lock_conflict(ret) || attempt == kMaxAttempts) return false;
  if (ret == DB_LOCK_NOTGRANTED) {
    if (++timeouts > kMaxLockTimeouts) return false;
    if (const int failed = release_dead_lockers(env); failed != 0) {
      ret = failed;
      return false;
    }
  }
  return true;
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

int open_lock_file(const std::string& path) {
  return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kFileMode);
}

// flock(fd, operation) without blocking, tried again every kGatePoll until it
// succeeds or `deadline` passes. 0, or the errno of the last attempt
// (EWOULDBLOCK: still held by another process at the deadline).
int flock_until(int fd, int operation, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) return 0;
    const int error = errno;
    if (error == EINTR) continue;
    const auto now = std::chrono::steady_clock::now();
    if (error != EWOULDBLOCK || now >= deadline) return error;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kGatePoll, deadline - now));
  }
}

// The environment region files (__db.NNN) in `dir`, as full paths.
std::vector<std::string> region_files(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return files;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name.substr(0, kRegionFilePrefix.size()) == kRegionFilePrefix) {
      files.push_back(dir + "/" + std::string(name));
    }
  }
  ::closedir(d);
  return files;
}

// Gives each region file its disk space now, so that touching a page of
// the mapping can never fault for want of space (a sparse region file on a
// full disk kills the process with SIGBUS). A region may grow later, up to
// its maximum, by extending its file sparsely: blocks reserved beyond the
// end (FALLOC_FL_KEEP_SIZE) make that growth safe too. Berkeley DB 5.3
// numbers the regions of this environment as it creates them: 001 the
// environment (with the lock, log and transaction tables, up to
// `environment_max` bytes), 002 the mutexes (allocated whole), 003 the
// cache (up to `cache_max`). 0 or errno.
int reserve_region_files(const std::string& dir, std::uint64_t environment_max,
                         std::uint64_t cache_max) {
  for (const std::string& path : region_files(dir)) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    struct stat st {};
    int error = ::fstat(fd, &st) == 0 ? 0 : errno;
    auto target = static_cast<std::uint64_t>(st.st_size);
    if (path.ends_with("/__db.001")) target = std::max(target, environment_max);
    if (path.ends_with("/__db.003")) target = std::max(target, cache_max);
    if (error == 0 && target > 0) {
      error = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(target)) == 0 ? 0 : errno;
      // A file system without fallocate(2): at least the current size.
      if (error == EOPNOTSUPP && st.st_size > 0) error = ::posix_fallocate(fd, 0, st.st_size);
    }
    ::close(fd);
    if (error != 0) return error;
  }
  return 0;
}

// One non-blocking attempt: 0 or errno.
int try_flock(int fd, int operation) {
  int locked;
  do {
    locked = ::flock(fd, operation | LOCK_NB);
  } while (locked != 0 && errno == EINTR);
  return locked == 0 ? 0 : errno;
}

const char* table_file(Table table) { return kTableFiles[static_cast<std::size_t>(table)]; }

// Berkeley DB may say the same thing once per request (a full disk) or
// hundreds of times during one recovery: let a burst through, so start-up
// diagnostics stay complete, then at most one line a second, so a failing
// disk cannot fill the log too.
class DiagnosticBudget {
 public:
  // Whether to log now; *suppressed is set to the lines dropped before it.
  bool take(unsigned* suppressed) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= kWindow) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= kBurst && now - last_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return false;
    }
    ++used_;
    last_ = now;
    *suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  static constexpr unsigned kBurst = 20;
  static constexpr std::chrono::seconds kWindow{10};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point window_start_{};
  std::chrono::steady_clock::time_point last_{};
  unsigned used_ = 0;
  unsigned suppressed_ = 0;
};

void on_db_error(const DbEnv* /*env*/, const char* prefix, const char* message) {
  if (t_open_diagnostics != nullptr && t_open_diagnostics->size() < 100) {
    t_open_diagnostics->emplace_back(message != nullptr ? message : "");
  }
  static DiagnosticBudget* const budget = new DiagnosticBudget;  // never destroyed: exit-safe
  unsigned suppressed = 0;
  if (!budget->take(&suppressed)) return;
  std::string line = "berkeley db: ";
  if (prefix != nullptr) line.append(prefix).append(": ");
  line.append(message != nullptr ? message : "(no message)");
  if (suppressed > 0) line += " (" + std::to_string(suppressed) + " more messages suppressed)";
  log_error(line);
}

void on_db_message(const DbEnv* /*env*/, const char* message) {
  log_info(std::string("berkeley db: ") + (message != nullptr ? message : ""));
}

// The files of an environment: the tables, the log, region files.
bool is_environment_file(const std::string& name) {
  return name == kTableFiles[0] || name == kTableFiles[1] || name.rfind("log.", 0) == 0 ||
         name.rfind(kRegionFilePrefix, 0) == 0;
}

// Whether the owner's failure to open (recover) the environment or a table
// means damaged files that recovery cannot repair: Berkeley DB gave up on
// them (DB_RUNRECOVERY, a malformed file, a log that does not match), and
// nothing says the system refused instead (a file we may not read or
// write, a full disk, an I/O error), which moving files would not cure.
bool looks_damaged(int error, const std::vector<std::string>& diagnostics,
                   const std::string& dir) {
  if (error != DB_RUNRECOVERY && error != EINVAL && error != ENOENT && error != DB_VERIFY_BAD &&
      error != DB_PAGE_NOTFOUND) {
    return false;
  }
  for (const int refusal : {EACCES, EPERM, ENOSPC, EDQUOT, EIO, EROFS, ENOMEM, EMFILE, ENFILE}) {
    const std::string text = std::strerror(refusal);
    for (const auto& line : diagnostics) {
      if (line.find(text) != std::string::npos) return false;
    }
  }
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return false;
  bool accessible = true;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    const std::string path = dir + "/" + name;
    if (is_environment_file(name) &&
        ::faccessat(AT_FDCWD, path.c_str(), R_OK | W_OK, AT_EACCESS) != 0) {
      accessible = false;
    }
  }
  ::closedir(listing);
  return accessible;
}

bool fits_dbt(std::string_view bytes) {
  return bytes.size() <= std::numeric_limits<u_int32_t>::max();
}

// A Dbt reading from caller-owned bytes (Berkeley DB does not write to it).
Dbt input_dbt(std::string_view bytes) {
  return Dbt(const_cast<char*>(bytes.data()), static_cast<u_int32_t>(bytes.size()));
}

// A Dbt Berkeley DB writes into, growing its buffer with realloc() as needed
// (the handles are DB_THREAD, so it may not return its own memory).
class OutputDbt {
 public:
  OutputDbt() { dbt_.set_flags(DB_DBT_REALLOC); }
  ~OutputDbt() { std::free(dbt_.get_data()); }
  OutputDbt(const OutputDbt&) = delete;
  OutputDbt& operator=(const OutputDbt&) = delete;

  Dbt* get() { return &dbt_; }
  std::string_view view() const {
    if (dbt_.get_size() == 0) return {};
    return {static_cast<const char*>(dbt_.get_data()), dbt_.get_size()};
  }
  // Loads bytes as input (for DB_SET_RANGE, which reads and then overwrites).
  int assign(std::string_view bytes) {
    void* data = std::realloc(dbt_.get_data(), bytes.empty() ? 1 : bytes.size());
    if (data == nullptr) return ENOMEM;
    if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
    dbt_.set_data(data);
    dbt_.set_size(static_cast<u_int32_t>(bytes.size()));
    return 0;
  }

 private:
  Dbt dbt_;
};

// Closes a cursor when the transaction body leaves; a cursor must be closed
// before its transaction commits or aborts.
class CursorCloser {
 public:
  explicit CursorCloser(Dbc* cursor) : cursor_(cursor) {}
  ~CursorCloser() {
    if (cursor_ != nullptr) cursor_->close();
  }
  CursorCloser(const CursorCloser&) = delete;
  CursorCloser& operator=(const CursorCloser&) = delete;
  int close() {
    const int ret = cursor_->close();
    cursor_ = nullptr;
    return ret;
  }

 private:
  Dbc* cursor_;
};

// Runs body(txn) in a transaction and commits when it returns 0, aborts
// otherwise. A transaction that lost a lock conflict is retried from the
// start, up to kMaxAttempts times. Returns 0, a Berkeley DB / errno code, or
// one of our sentinels (kBodyThrew with *thrown set to the exception text).
template <typename Body>
int run_transaction(DbEnv& env, u_int32_t txn_flags, Body&& body, std::string* thrown) {
  int timeouts = 0;
  for (int attempt = 1;; ++attempt) {
    DbTxn* txn = nullptr;
    int ret = env.txn_begin(nullptr, &txn, txn_flags);
    if (ret != 0) return ret;
    try {
      ret = body(txn);
    } catch (const std::exception& e) {
      txn->abort();
      *thrown = e.what();
      return kBodyThrew;
    } catch (...) {
      txn->abort();
      *thrown = "unknown exception";
      return kBodyThrew;
    }
    // Commit and abort free the handle whatever they return.
    if (ret == 0) {
      ret = txn->commit(0);
    } else {
      txn->abort();
    }
    if (!retry_after_conflict(env, ret, attempt, timeouts)) return ret;
    std::this_thread::yield();
  }
}

}  // namespace

void BdbStore::DbCloser::operator()(Db* db) const noexcept {
  const int ret = db->close(0);
  if (ret != 0) log_error(std::string("berkeley db: closing a database failed: ") + db_strerror(ret));
  delete db;
}

void BdbStore::DbEnvCloser::operator()(DbEnv* env) const noexcept {
  const int ret = env->close(0);
  if (ret != 0) {
    log_error(std::string("berkeley db: closing the environment failed: ") + db_strerror(ret));
  }
  delete env;
}

BdbStore::BdbStore(BdbOptions options) : options_(std::move(options)) {}

BdbStore::~BdbStore() { close_all(); }

Result<std::unique_ptr<BdbStore>> BdbStore::open(const BdbOptions& options) {
  const std::string& dir = options.directory;
  if (dir.empty()) return Status::InvalidArgument("berkeley db: no database directory given");

  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      return Status::InvalidArgument("database directory " + dir + " does not exist");
    }
    return Status::IoError("cannot access database directory " + dir + ": " + errno_text(error));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("database directory " + dir + " is not a directory");
  }
  // The effective ids: the daemon opens the database as --user with seteuid.
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    const int error = errno;
    return Status::IoError("database directory " + dir + " is not writable: " + errno_text(error));
  }

  try {
    std::unique_ptr<BdbStore> store(new BdbStore(options));
    std::vector<std::string> diagnostics;
    t_open_diagnostics = &diagnostics;
    Status opened = store->acquire_directory();
    for (Table table : {Table::kTriplets, Table::kClients}) {
      if (opened.ok()) opened = store->open_database(table);
    }
    t_open_diagnostics = nullptr;
    if (!opened.ok()) {
      if (!store->joined_ && store->lock_fd_ >= 0 &&
          looks_damaged(store->open_error_, diagnostics, dir)) {
        std::string detail;
        for (const auto& line : diagnostics) {
          if (!line.empty()) {
            detail = line;
            break;
          }
        }
        return Status::Corruption(opened.message() +
                                  (detail.empty() ? "" : " (Berkeley DB: " + detail + ")"));
      }
      return opened;
    }
    store->handles_usable_ = true;
    if (!store->joined_) {
      // Recovered and complete: processes waiting to join may come in.
      ::close(store->gate_fd_);
      store->gate_fd_ = -1;
    }
    if (options.checkpoint_interval.count() > 0 || (store->shared_regions_ && !store->joined_)) {
      store->maintenance_thread_ = std::thread([raw = store.get()] { raw->run_maintenance(); });
    }
    return store;
  } catch (const std::exception& e) {
    // Allocation or thread creation failed; whatever was opened is closed
    // by the store's destructor.
    return Status::IoError("berkeley db in " + dir + ": open failed: " + e.what());
  }
}

Status BdbStore::acquire_directory() {
  const std::string& dir = options_.directory;
  const std::string lock_path = dir + "/" + kLockFileName;
  const std::string gate_path = dir + "/" + kGateFileName;
  lock_fd_ = open_lock_file(lock_path);
  if (lock_fd_ < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + lock_path + ": " + errno_text(error));
  }
  gate_fd_ = open_lock_file(gate_path);
  if (gate_fd_ < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + gate_path + ": " + errno_text(error));
  }
  const auto in_use = [&] {
    return Status::Unavailable("database directory " + dir +
                               " is in use by another process (lock file " + lock_path + ")");
  };
  // `joining`: waiting to join (shared), else waiting to recover (exclusive).
  const auto gate_failure = [&](int error, bool joining) {
    if (error != EWOULDBLOCK) {
      return Status::IoError("cannot lock " + gate_path + ": " + errno_text(error));
    }
    const auto waited = std::to_string(options_.gate_timeout.count()) + " ms";
    if (joining) {
      return Status::Unavailable("database directory " + dir +
                                 " is being opened with recovery by another process (waited " +
                                 waited + " for lock file " + gate_path + ")");
    }
    // A second owner is refused as before, whoever else is attached.
    if (lock_fd_ >= 0 && try_flock(lock_fd_, LOCK_EX) == EWOULDBLOCK) return in_use();
    return Status::Unavailable("database directory " + dir +
                               " is still in use by a tool such as greylistctl (waited " + waited +
                               " for lock file " + gate_path + ")");
  };

  // The gate comes first: an owner holds it exclusively from before it takes
  // the directory until recovery is over and the databases are open, so a
  // process holding it shared that finds the directory owned knows the
  // owner's environment is ready to join.
  const bool may_join = options_.sharing == BdbOptions::Sharing::kJoinIfBusy;
  const auto deadline = std::chrono::steady_clock::now() + options_.gate_timeout;
  if (const int error = flock_until(gate_fd_, may_join ? LOCK_SH : LOCK_EX, deadline); error != 0) {
    return gate_failure(error, may_join);
  }
  const int locked = try_flock(lock_fd_, LOCK_EX);
  if (locked == EWOULDBLOCK) {
    if (!may_join) return in_use();
    ::close(lock_fd_);
    lock_fd_ = -1;
    joined_ = true;
    return open_environment(false);
  }
  if (locked != 0) return Status::IoError("cannot lock " + lock_path + ": " + errno_text(locked));
  // The owner. Recovery needs every joined process gone (one may remain
  // from an owner that died).
  if (may_join) {
    if (const int error = flock_until(gate_fd_, LOCK_EX, deadline); error != 0) {
      return gate_failure(error, false);
    }
  }
  return open_environment(true);
}

Status BdbStore::open_environment(bool recover, bool allow_shared) {
  std::unique_ptr<DbEnv, DbEnvCloser> env(new DbEnv(DB_CXX_NO_EXCEPTIONS));
  env->set_errcall(on_db_error);
  // Berkeley DB keeps the pointer: options_ outlives the environment.
  env->set_errpfx(options_.directory.c_str());
  env->set_msgcall(on_db_message);

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
  if ((ret = env->set_timeout(kLockTimeoutMicros, DB_SET_LOCK_TIMEOUT)) != 0) {
    return failure("set lock timeout", ret);
  }
  if ((ret = env->set_thread_count(kThreadSlots)) != 0) return failure("set thread count", ret);
  if ((ret = env->set_isalive(process_is_alive)) != 0) return failure("set is-alive check", ret);
  if (options_.sync == BdbOptions::Sync::kCrashSafe) {
    // The log is written to the OS at commit but not flushed to disk: a
    // process crash loses nothing, a power cut may lose the last commits.
    if ((ret = env->set_flags(DB_TXN_WRITE_NOSYNC, 1)) != 0) return failure("set sync mode", ret);
  }
  if ((ret = env->log_set_config(DB_LOG_AUTO_REMOVE, 1)) != 0) {
    return failure("enable log removal", ret);
  }

  // The regions (cache, locks, log buffer) are either in __db.NNN files,
  // mmap()ed by every process of the environment (a joining tool needs
  // them), or in this process's memory (DB_PRIVATE, nobody can join). A
  // region file is sparse: on a full disk, touching a page of it not yet
  // backed would kill the process with SIGBUS where a write() only fails
  // with ENOSPC. So the owner uses files only when the disk has room for
  // them, and then reserves their disk space at once, up to what each
  // region may grow to (again at each checkpoint); otherwise it stays
  // private.
  // The owner's flocks make it the environment's only user while DB_RECOVER
  // runs (and while DB_PRIVATE lasts), which both require; a joining
  // process attaches to the owner's region files as they are.
  u_int32_t flags = DB_INIT_TXN | DB_INIT_MPOOL | DB_INIT_LOG | DB_INIT_LOCK | DB_THREAD;
  if (!recover) {
    ret = env->open(options_.directory.c_str(), flags, kFileMode);
    if (ret == ENOENT) {
      return Status::Unavailable(
          "database directory " + options_.directory +
          " is in use by a process that keeps its environment private (it started with too "
          "little free disk space for shared regions): it cannot be joined while it runs");
    }
    if (ret != 0) return failure("join the environment of the process using it", ret);
    env_ = std::move(env);
    return Status::Ok();
  }

  // Regions of an earlier owner are stale: recovery starts from the log.
  for (const std::string& path : region_files(options_.directory)) ::unlink(path.c_str());
  flags |= DB_CREATE | DB_RECOVER;
  shared_regions_ = allow_shared && room_for_region_files();
  if (shared_regions_) {
    ret = env->open(options_.directory.c_str(), flags, kFileMode);
    if (ret != 0) {
      open_error_ = ret;
      return failure("open environment (with recovery)", ret);
    }
    env_ = std::move(env);
    if (const int error = reserve_region_space(); error == 0) {
      return Status::Ok();
    } else {
      log_warning("berkeley db in " + options_.directory +
                  ": cannot allocate the environment's region files (" + errno_text(error) +
                  "); keeping the regions in memory, so greylistctl cannot join while this "
                  "process runs");
    }
    env_.reset();
    for (const std::string& path : region_files(options_.directory)) ::unlink(path.c_str());
    shared_regions_ = false;
    return open_environment(true, false);
  }
  ret = env->open(options_.directory.c_str(), flags | DB_PRIVATE, kFileMode);
  if (ret != 0) {
    open_error_ = ret;
    return failure("open environment (with recovery)", ret);
  }
  env_ = std::move(env);
  return Status::Ok();
}

bool BdbStore::room_for_region_files() const {
  struct statvfs fs {};
  if (::statvfs(options_.directory.c_str(), &fs) != 0) return false;
  const std::uint64_t free_bytes = std::uint64_t{fs.f_bavail} * fs.f_frsize;
  const std::uint64_t needed =
      options_.cache_bytes / 4 * 5 + kRegionOverheadBytes + kFreeSpaceKeptBytes;
  if (free_bytes >= needed) return true;
  log_warning("berkeley db in " + options_.directory + ": only " +
              std::to_string(free_bytes / 1024) + " KiB free on its file system (" +
              std::to_string(needed / 1024) +
              " KiB wanted): the environment's regions stay in memory, so greylistctl cannot "
              "join while this process runs");
  return false;
}

int BdbStore::reserve_region_space() const {
  u_int32_t gbytes = 0;
  u_int32_t bytes = 0;
  std::uint64_t cache_max = 0;
  std::uint64_t environment_max = 0;
  if (env_->get_cache_max(&gbytes, &bytes) == 0) cache_max = (std::uint64_t{gbytes} << 30) + bytes;
  if (env_->get_memory_max(&gbytes, &bytes) == 0) {
    environment_max = (std::uint64_t{gbytes} << 30) + bytes;
  }
  return reserve_region_files(options_.directory, environment_max, cache_max);
}

Status BdbStore::open_database(Table table) {
  std::unique_ptr<Db, DbCloser> db(new Db(env_.get(), DB_CXX_NO_EXCEPTIONS));
  // A joining process finds the owner's databases; it creates nothing.
  const u_int32_t flags = DB_AUTO_COMMIT | DB_THREAD | (joined_ ? 0 : DB_CREATE);
  const int ret = db->open(nullptr, table_file(table), nullptr, DB_BTREE, flags, kFileMode);
  if (ret != 0) {
    open_error_ = ret;
    return failure("open", table, ret);
  }
  dbs_[static_cast<std::size_t>(table)] = std::move(db);
  return Status::Ok();
}

void BdbStore::close_all() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    stopping_ = true;
  }
  checkpoint_wakeup_.notify_all();
  if (maintenance_thread_.joinable()) maintenance_thread_.join();
  {
    std::lock_guard guard(reopen_mutex_);
    closing_ = true;
  }

  if (handles_usable_ && env_ && dbs_[0] && dbs_[1]) {
    if (Status s = checkpoint(); !s.ok()) log_error(s.message());
  }
  close_handles();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
  // Only once detached from the environment: an owner may recover it now.
  if (gate_fd_ >= 0) {
    ::close(gate_fd_);
    gate_fd_ = -1;
  }
}

void BdbStore::run_maintenance() {
  // With shared regions another process may hold locks: waits past their
  // timeout are ended every tick, and failchk releases the locks of dead
  // processes every kTicksPerFailchk ticks, before a request waits for them.
  const bool shared = shared_regions_ && !joined_;
  const bool checkpoints = options_.checkpoint_interval.count() > 0;
  const auto tick = shared ? std::chrono::duration_cast<std::chrono::milliseconds>(kMaintenanceTick)
                           : std::chrono::duration_cast<std::chrono::milliseconds>(
                                 options_.checkpoint_interval);
  auto next_checkpoint = std::chrono::steady_clock::now() + options_.checkpoint_interval;
  std::unique_lock lock(checkpoint_mutex_);
  for (int ticks = 1;; ++ticks) {
    if (checkpoint_wakeup_.wait_for(lock, tick, [this] { return stopping_; })) return;
    lock.unlock();
    if (shared) {
      const int failed = with_handles([&] {
        const int expired = env_->lock_detect(0, DB_LOCK_EXPIRE, nullptr);
        return expired != 0 || ticks % kTicksPerFailchk != 0 ? expired : release_dead_lockers(*env_);
      });
      if (failed != 0) log_error(failure("end lock waits of dead processes", failed).message());
    }
    if (checkpoints && std::chrono::steady_clock::now() >= next_checkpoint) {
      next_checkpoint = std::chrono::steady_clock::now() + options_.checkpoint_interval;
      if (Status s = checkpoint(); !s.ok()) log_error(s.message());
    }
    lock.lock();
  }
}

Status BdbStore::checkpoint() {
  // With DB_LOG_AUTO_REMOVE the checkpoint also removes the log files that
  // recovery no longer needs.
  int reserve_error = 0;
  const int ret = with_handles([&] {
    const int checkpointed = env_->txn_checkpoint(0, 0, 0);
    // A region may have grown (Berkeley DB extends region files sparsely).
    if (checkpointed == 0 && shared_regions_) reserve_error = reserve_region_space();
    return checkpointed;
  });
  if (ret != 0) return failure("checkpoint", ret);
  if (reserve_error != 0) {
    log_warning("berkeley db in " + options_.directory +
                ": cannot allocate the environment's region files: " + errno_text(reserve_error));
  }
  return Status::Ok();
}

void BdbStore::close_handles() {
  for (auto& db : dbs_) db.reset();
  env_.reset();
}

template <typename Fn>
int BdbStore::with_handles(Fn&& fn) {
  if (!handles_usable_.load(std::memory_order_acquire)) {
    reopen_after_failure();
    if (!handles_usable_.load(std::memory_order_acquire)) return kEnvironmentDown;
  }
  int ret;
  bool first_to_fail = false;
  {
    // Never waits: a reopen in progress holds the lock exclusively.
    std::shared_lock lock(handles_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || !handles_usable_.load(std::memory_order_acquire)) {
      return kEnvironmentDown;
    }
    ret = fn();
    if (!joined_ && environment_failed(ret) && handles_usable_.exchange(false)) {
      first_to_fail = true;
      // The panic makes every call fail fast and the close before the
      // reopen write nothing from memory: only recovery writes.
      if (ret != DB_RUNRECOVERY) env_->set_flags(DB_PANIC_ENVIRONMENT, 1);
    }
  }
  if (first_to_fail) {
    log_error("berkeley db in " + options_.directory + ": the environment failed (" +
              db_strerror(ret) + "); answering by --on-error until it is reopened with "
              "recovery, once the directory takes writes again");
  }
  if (!joined_ && environment_failed(ret)) reopen_after_failure();
  return ret;
}

void BdbStore::reopen_after_failure() {
  std::unique_lock guard(reopen_mutex_, std::try_to_lock);
  if (!guard.owns_lock() || closing_ || joined_ || handles_usable_.load()) return;
  const auto now = std::chrono::steady_clock::now();
  if (reopen_attempts_ > 0) {
    if (now - last_reopen_ >= kReopenForgiven) {
      reopen_attempts_ = 0;
    } else if (now - last_reopen_ < reopen_delay(reopen_attempts_)) {
      return;
    }
  }
  if (reopen_attempts_ >= kMaxReopens) {
    if (reopen_attempts_ == kMaxReopens) {
      ++reopen_attempts_;
      log_error("berkeley db in " + options_.directory + ": the environment failed again after " +
                std::to_string(kMaxReopens) + " reopenings; no more attempts: answering by "
                "--on-error until the daemon is restarted (check the files with db5.3_verify)");
    }
    return;
  }
  if (now - last_probe_ < kProbeInterval) return;
  last_probe_ = now;
  if (!writable_again(options_.directory)) return;
  ++reopen_attempts_;
  last_reopen_ = now;
  Status reopened;
  {
    std::unique_lock lock(handles_mutex_);  // calls in progress end first (they fail fast)
    close_handles();
    // Recovery needs every joined tool detached: take the gate, without
    // waiting (a tool attached to a failed environment gets errors and exits).
    const std::string gate_path = options_.directory + "/" + kGateFileName;
    const int gate = open_lock_file(gate_path);
    const int locked = gate < 0 ? errno : try_flock(gate, LOCK_EX);
    if (locked != 0) {
      reopened = Status::Unavailable("berkeley db in " + options_.directory +
                                     ": cannot reopen the environment while a tool such as "
                                     "greylistctl is attached (" + gate_path + ": " +
                                     errno_text(locked) + ")");
    } else {
      reopened = open_environment(true);
      for (Table table : {Table::kTriplets, Table::kClients}) {
        if (reopened.ok()) reopened = open_database(table);
      }
      if (!reopened.ok()) close_handles();
    }
    if (gate >= 0) ::close(gate);
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

Result<BdbStore::MovedAside> BdbStore::move_aside(const std::string& directory) {
  const std::string lock_path = directory + "/" + kLockFileName;
  const int lock = open_lock_file(lock_path);
  if (lock < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + lock_path + ": " + errno_text(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{lock};
  if (try_flock(lock, LOCK_EX) != 0) {
    return Status::Unavailable("database directory " + directory +
                               " is in use by another process (lock file " + lock_path + ")");
  }
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  MovedAside moved;
  for (int n = 1;; ++n) {
    moved.subdirectory = std::string("corrupt-") + stamp + (n == 1 ? "" : "-" + std::to_string(n));
    if (::mkdir((directory + "/" + moved.subdirectory).c_str(), 0700) == 0) break;
    const int error = errno;
    if (error != EEXIST || n == 100) {
      return Status::IoError("cannot create " + directory + "/" + moved.subdirectory + ": " +
                             errno_text(error));
    }
  }
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) {
    const int error = errno;
    return Status::IoError("cannot read " + directory + ": " + errno_text(error));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(listing)) {
    if (is_environment_file(entry->d_name)) names.emplace_back(entry->d_name);
  }
  ::closedir(listing);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string from = directory + "/" + name;
    const std::string to = directory + "/" + moved.subdirectory + "/" + name;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const int error = errno;
      return Status::IoError("cannot move " + from + " to " + to + ": " + errno_text(error) +
                             (moved.files.empty()
                                  ? std::string()
                                  : " (moved before it: " + std::to_string(moved.files.size()) +
                                        " files)"));
    }
    moved.files.push_back(name);
  }
  return moved;
}


Status BdbStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  // First a look without a transaction: most updates on the request path
  // (a passed triplet, a retry too early) leave the entry as it is, and
  // then the look was the whole update. Only when fn wants to change
  // something does a transaction read the entry again, locked for writing;
  // if it is still what fn saw, fn's answer is applied as it is (fn depends
  // only on its argument), else fn is called again on the current value.
  std::string thrown;
  std::optional<std::string> seen;      // the committed value fn was given
  std::optional<std::string> proposed;  // what fn made of it
  UpdateOutcome planned;
  int result = with_handles([&] {
    const int read = read_committed(table, key, seen);
    if (read != 0) return read;
    proposed = seen;
    try {
      planned = fn(proposed);
    } catch (const std::exception& e) {
      thrown = e.what();
      return kBodyThrew;
    } catch (...) {
      thrown = "unknown exception";
      return kBodyThrew;
    }
    return 0;
  });
  if (result != 0) return failure("update", table, result, thrown);
  if (planned.verdict == UpdateOutcome::Verdict::kKeep ||
      (planned.verdict == UpdateOutcome::Verdict::kErase && !seen)) {
    return Status::Ok();
  }

  bool called_in_transaction = false;
  auto body = [&](DbTxn* txn) -> int {
    Db* const database = db(table);
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    // A new entry (absent at the look, fn wrote it): insert it unless the
    // key appeared meanwhile, which the put checks under its write lock;
    // that saves the read below on every first sighting of a triplet.
    if (!called_in_transaction && !seen && planned.verdict == UpdateOutcome::Verdict::kWrite &&
        proposed && fits_dbt(*proposed)) {
      Dbt v = input_dbt(*proposed);
      const int inserted = database->put(txn, &k, &v, DB_NOOVERWRITE);
      if (inserted != DB_KEYEXIST) return inserted;
      // Written by someone else since the look: read it and decide again.
    }
    OutputDbt data;
    // DB_RMW takes the write lock now, so two updates of one key cannot both
    // read the old value (no lost update, no read-to-write lock upgrade).
    int ret = database->get(txn, &k, data.get(), DB_RMW);
    std::optional<std::string> current;
    if (ret == 0) {
      current.emplace(data.view());
    } else if (ret != DB_NOTFOUND) {
      return ret;
    }
    const bool existed = current.has_value();
    std::optional<std::string> fresh;
    UpdateOutcome outcome = planned;
    const std::optional<std::string>* value = &proposed;
    // Changed since the look: decide again. So also after fn ran in an
    // attempt that was then retried (its side effects are the latest).
    if (called_in_transaction || current != seen) {
      called_in_transaction = true;
      fresh = std::move(current);
      outcome = fn(fresh);
      value = &fresh;
    }
    switch (outcome.verdict) {
      case UpdateOutcome::Verdict::kKeep:
        return 0;
      case UpdateOutcome::Verdict::kWrite: {
        if (!*value) return kWriteOfAbsentValue;
        if (!fits_dbt(**value)) return kKeyTooLarge;
        Dbt v = input_dbt(**value);
        return database->put(txn, &k, &v, 0);
      }
      case UpdateOutcome::Verdict::kErase:
        if (!existed) return 0;
        ret = database->del(txn, &k, 0);
        return ret == DB_NOTFOUND ? 0 : ret;
    }
    return 0;
  };
  result = with_handles([&] { return run_transaction(*env_, 0, body, &thrown); });
  if (result != 0) return failure("update", table, result, thrown);
  return Status::Ok();
}

Result<std::optional<std::string>> BdbStore::get(Table table, std::string_view key) {
  std::optional<std::string> value;
  const int ret = with_handles([&] { return read_committed(table, key, value); });
  if (ret != 0) return failure("get", table, ret);
  return value;
}

int BdbStore::read_committed(Table table, std::string_view key, std::optional<std::string>& value) {
  if (!fits_dbt(key)) return kKeyTooLarge;
  Db* const database = db(table);
  Dbt k = input_dbt(key);
  // No transaction: a read takes its page locks only for the duration of
  // the call and logs nothing, which saves a txn_begin and a commit per
  // look-up. It sees committed data only (a page written by an open
  // transaction is locked until that commits or aborts).
  int timeouts = 0;
  for (int attempt = 1;; ++attempt) {
    value.reset();
    OutputDbt data;
    int ret = database->get(nullptr, &k, data.get(), 0);
    if (ret == DB_NOTFOUND) return 0;
    if (ret == 0) {
      value.emplace(data.view());
      return 0;
    }
    if (!retry_after_conflict(*env_, ret, attempt, timeouts)) return ret;
    std::this_thread::yield();
  }
}

Status BdbStore::put(Table table, std::string_view key, std::string_view value,
                     EpochSeconds /*expires_at*/) {
  auto body = [&](DbTxn* txn) -> int {
    Db* const database = db(table);
    if (!fits_dbt(key) || !fits_dbt(value)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    Dbt v = input_dbt(value);
    return database->put(txn, &k, &v, 0);
  };
  std::string thrown;
  const int ret =
      with_handles([&] { return run_transaction(*env_, 0, body, &thrown); });
  if (ret != 0) return failure("put", table, ret, thrown);
  return Status::Ok();
}

Status BdbStore::erase(Table table, std::string_view key) {
  auto body = [&](DbTxn* txn) -> int {
    Db* const database = db(table);
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    const int ret = database->del(txn, &k, 0);
    return ret == DB_NOTFOUND ? 0 : ret;
  };
  std::string thrown;
  const int ret =
      with_handles([&] { return run_transaction(*env_, 0, body, &thrown); });
  if (ret != 0) return failure("erase", table, ret, thrown);
  return Status::Ok();
}

Result<std::vector<StoreEntry>> BdbStore::scan(Table table, std::string_view after,
                                               std::size_t limit) {
  std::vector<StoreEntry> out;
  if (limit == 0) return out;
  auto body = [&](DbTxn* txn) -> int {
    Db* const database = db(table);
    out.clear();  // a retried attempt starts over
    if (!fits_dbt(after)) return kKeyTooLarge;
    Dbc* raw_cursor = nullptr;
    int ret = database->cursor(txn, &raw_cursor, DB_READ_COMMITTED);
    if (ret != 0) return ret;
    CursorCloser cursor(raw_cursor);
    OutputDbt key;
    OutputDbt data;
    if ((ret = key.assign(after)) != 0) return ret;
    // DB_SET_RANGE finds the first key >= after; scan wants > after.
    ret = raw_cursor->get(key.get(), data.get(), DB_SET_RANGE);
    if (ret == 0 && key.view() == after) ret = raw_cursor->get(key.get(), data.get(), DB_NEXT);
    while (ret == 0) {
      out.push_back({std::string(key.view()), std::string(data.view())});
      if (out.size() >= limit) break;
      ret = raw_cursor->get(key.get(), data.get(), DB_NEXT);
    }
    if (ret != 0 && ret != DB_NOTFOUND) return ret;
    return cursor.close();
  };
  std::string thrown;
  const int ret =
      with_handles([&] { return run_transaction(*env_, DB_READ_COMMITTED, body, &thrown); });
  if (ret != 0) return failure("scan", table, ret, thrown);
  return out;
}

Result<std::uint64_t> BdbStore::count(Table table) {
  std::uint64_t n = 0;
  auto body = [&](DbTxn* txn) -> int {
    Db* const database = db(table);
    void* stats = nullptr;
    const int ret = database->stat(txn, &stats, DB_READ_COMMITTED);
    if (ret != 0) return ret;
    n = static_cast<const DB_BTREE_STAT*>(stats)->bt_nkeys;
    std::free(stats);
    return 0;
  };
  std::string thrown;
  const int ret =
      with_handles([&] { return run_transaction(*env_, DB_READ_COMMITTED, body, &thrown); });
  if (ret != 0) return failure("count", table, ret, thrown);
  return n;
}

Status BdbStore::failure(const char* operation, Table table, int error,
                         std::string_view thrown) const {
  return failure((std::string(operation) + " on " + table_file(table)).c_str(), error, thrown);
}

Status BdbStore::failure(const char* operation, int error, std::string_view thrown) const {
  std::string reason;
  switch (error) {
    case kBodyThrew:
      reason = "exception: " + std::string(thrown);
      break;
    case kWriteOfAbsentValue:
      reason = "the update function asked to write an absent value";
      break;
    case kKeyTooLarge:
      reason = "key or value larger than 4 GiB";
      break;
    case kEnvironmentDown:
      reason = "the environment failed and is being reopened with recovery";
      break;
    default:
      reason = db_strerror(error);
      if (is_lock_conflict(error)) {
        reason += " (gave up after " + std::to_string(kMaxAttempts) + " attempts)";
      }
  }
  std::string message =
      "berkeley db in " + options_.directory + ": " + operation + " failed: " + reason;
  switch (error) {
    case DB_LOCK_DEADLOCK:
    case DB_LOCK_NOTGRANTED:
    case DB_RUNRECOVERY:
    case kEnvironmentDown:
    case ENOMEM:  // lock or transaction table full
      return Status::Unavailable(std::move(message));
    case DB_VERIFY_BAD:
    case DB_PAGE_NOTFOUND:
    case DB_SECONDARY_BAD:
      return Status::Corruption(std::move(message));
    case kWriteOfAbsentValue:
    case kKeyTooLarge:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

}  // namespace greylist
