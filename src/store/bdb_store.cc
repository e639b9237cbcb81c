#include "store/bdb_store.h"

#include <db_cxx.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <system_error>
#include <utility>

#include "util/log.h"

namespace greylist {
namespace {

constexpr const char* kLockFileName = "greylist-milter.lock";
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

// Results of a transaction body that are ours, not Berkeley DB's (its codes
// are below -30000, errno values positive).
constexpr int kBodyThrew = -1;
constexpr int kWriteOfAbsentValue = -2;
constexpr int kKeyTooLarge = -3;

bool is_lock_conflict(int error) {
  return error == DB_LOCK_DEADLOCK || error == DB_LOCK_NOTGRANTED;
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

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
    if (!is_lock_conflict(ret) || attempt == kMaxAttempts) return ret;
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
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int error = errno;
    return Status::IoError("database directory " + dir + " is not writable: " + errno_text(error));
  }

  try {
    std::unique_ptr<BdbStore> store(new BdbStore(options));

    const std::string lock_path = dir + "/" + kLockFileName;
    store->lock_fd_ =
        ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kFileMode);
    if (store->lock_fd_ < 0) {
      const int error = errno;
      return Status::IoError("cannot open lock file " + lock_path + ": " + errno_text(error));
    }
    int locked;
    do {
      locked = ::flock(store->lock_fd_, LOCK_EX | LOCK_NB);
    } while (locked != 0 && errno == EINTR);
    if (locked != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) {
        return Status::Unavailable("database directory " + dir +
                                   " is in use by another process (lock file " + lock_path + ")");
      }
      return Status::IoError("cannot lock " + lock_path + ": " + errno_text(error));
    }

    if (Status s = store->open_environment(); !s.ok()) return s;
    for (Table table : {Table::kTriplets, Table::kClients}) {
      if (Status s = store->open_database(table); !s.ok()) return s;
    }
    if (options.checkpoint_interval.count() > 0) {
      store->checkpointer_ = std::thread([raw = store.get()] { raw->run_checkpoints(); });
    }
    return store;
  } catch (const std::exception& e) {
    // Allocation or thread creation failed; whatever was opened is closed
    // by the store's destructor.
    return Status::IoError("berkeley db in " + dir + ": open failed: " + e.what());
  }
}

Status BdbStore::open_environment() {
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
  if (options_.sync == BdbOptions::Sync::kCrashSafe) {
    // The log is written to the OS at commit but not flushed to disk: a
    // process crash loses nothing, a power cut may lose the last commits.
    if ((ret = env->set_flags(DB_TXN_WRITE_NOSYNC, 1)) != 0) return failure("set sync mode", ret);
  }
  if ((ret = env->log_set_config(DB_LOG_AUTO_REMOVE, 1)) != 0) {
    return failure("enable log removal", ret);
  }

  // DB_PRIVATE: the regions (cache, locks, log buffer) live in this
  // process's memory, not in mmap()ed __db.* files. A region file is sparse:
  // on a full disk, touching a page of it not yet backed kills the process
  // with SIGBUS, where a write() only fails with ENOSPC. The flock makes
  // this process the environment's only user, which DB_PRIVATE and
  // DB_RECOVER both require.
  const u_int32_t flags = DB_CREATE | DB_RECOVER | DB_INIT_TXN | DB_INIT_MPOOL | DB_INIT_LOG |
                          DB_INIT_LOCK | DB_THREAD | DB_PRIVATE;
  if ((ret = env->open(options_.directory.c_str(), flags, kFileMode)) != 0) {
    return failure("open environment (with recovery)", ret);
  }
  env_ = std::move(env);
  return Status::Ok();
}

Status BdbStore::open_database(Table table) {
  std::unique_ptr<Db, DbCloser> db(new Db(env_.get(), DB_CXX_NO_EXCEPTIONS));
  const int ret = db->open(nullptr, table_file(table), nullptr, DB_BTREE,
                           DB_AUTO_COMMIT | DB_CREATE | DB_THREAD, kFileMode);
  if (ret != 0) return failure("open", table, ret);
  dbs_[static_cast<std::size_t>(table)] = std::move(db);
  return Status::Ok();
}

void BdbStore::close_all() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    stopping_ = true;
  }
  checkpoint_wakeup_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();

  if (env_ && dbs_[0] && dbs_[1]) {
    if (Status s = checkpoint(); !s.ok()) log_error(s.message());
  }
  for (auto& db : dbs_) db.reset();
  env_.reset();
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
}

void BdbStore::run_checkpoints() {
  std::unique_lock lock(checkpoint_mutex_);
  for (;;) {
    if (checkpoint_wakeup_.wait_for(lock, options_.checkpoint_interval,
                                    [this] { return stopping_; })) {
      return;
    }
    lock.unlock();
    if (Status s = checkpoint(); !s.ok()) log_error(s.message());
    lock.lock();
  }
}

Status BdbStore::checkpoint() {
  // With DB_LOG_AUTO_REMOVE the checkpoint also removes the log files that
  // recovery no longer needs.
  const int ret = env_->txn_checkpoint(0, 0, 0);
  if (ret != 0) return failure("checkpoint", ret);
  return Status::Ok();
}

Status BdbStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  Db* const database = db(table);
  auto body = [&](DbTxn* txn) -> int {
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    OutputDbt data;
    // DB_RMW takes the write lock now, so two updates of one key cannot both
    // read the old value (no lost update, no read-to-write lock upgrade).
    int ret = database->get(txn, &k, data.get(), DB_RMW);
    std::optional<std::string> value;
    if (ret == 0) {
      value.emplace(data.view());
    } else if (ret != DB_NOTFOUND) {
      return ret;
    }
    const bool existed = value.has_value();
    const UpdateOutcome outcome = fn(value);
    switch (outcome.verdict) {
      case UpdateOutcome::Verdict::kKeep:
        return 0;
      case UpdateOutcome::Verdict::kWrite: {
        if (!value) return kWriteOfAbsentValue;
        if (!fits_dbt(*value)) return kKeyTooLarge;
        Dbt v = input_dbt(*value);
        return database->put(txn, &k, &v, 0);
      }
      case UpdateOutcome::Verdict::kErase:
        if (!existed) return 0;
        ret = database->del(txn, &k, 0);
        return ret == DB_NOTFOUND ? 0 : ret;
    }
    return 0;
  };
  std::string thrown;
  const int ret = run_transaction(*env_, 0, body, &thrown);
  if (ret != 0) return failure("update", table, ret, thrown);
  return Status::Ok();
}

Result<std::optional<std::string>> BdbStore::get(Table table, std::string_view key) {
  Db* const database = db(table);
  std::optional<std::string> value;
  auto body = [&](DbTxn* txn) -> int {
    value.reset();
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    OutputDbt data;
    const int ret = database->get(txn, &k, data.get(), 0);
    if (ret == DB_NOTFOUND) return 0;
    if (ret == 0) value.emplace(data.view());
    return ret;
  };
  std::string thrown;
  // Read committed: the page lock is released as soon as the value is read.
  const int ret = run_transaction(*env_, DB_READ_COMMITTED, body, &thrown);
  if (ret != 0) return failure("get", table, ret, thrown);
  return value;
}

Status BdbStore::put(Table table, std::string_view key, std::string_view value,
                     EpochSeconds /*expires_at*/) {
  Db* const database = db(table);
  auto body = [&](DbTxn* txn) -> int {
    if (!fits_dbt(key) || !fits_dbt(value)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    Dbt v = input_dbt(value);
    return database->put(txn, &k, &v, 0);
  };
  std::string thrown;
  const int ret = run_transaction(*env_, 0, body, &thrown);
  if (ret != 0) return failure("put", table, ret, thrown);
  return Status::Ok();
}

Status BdbStore::erase(Table table, std::string_view key) {
  Db* const database = db(table);
  auto body = [&](DbTxn* txn) -> int {
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    const int ret = database->del(txn, &k, 0);
    return ret == DB_NOTFOUND ? 0 : ret;
  };
  std::string thrown;
  const int ret = run_transaction(*env_, 0, body, &thrown);
  if (ret != 0) return failure("erase", table, ret, thrown);
  return Status::Ok();
}

Result<std::vector<StoreEntry>> BdbStore::scan(Table table, std::string_view after,
                                               std::size_t limit) {
  std::vector<StoreEntry> out;
  if (limit == 0) return out;
  Db* const database = db(table);
  auto body = [&](DbTxn* txn) -> int {
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
  const int ret = run_transaction(*env_, DB_READ_COMMITTED, body, &thrown);
  if (ret != 0) return failure("scan", table, ret, thrown);
  return out;
}

Result<std::uint64_t> BdbStore::count(Table table) {
  Db* const database = db(table);
  std::uint64_t n = 0;
  auto body = [&](DbTxn* txn) -> int {
    void* stats = nullptr;
    const int ret = database->stat(txn, &stats, DB_READ_COMMITTED);
    if (ret != 0) return ret;
    n = static_cast<const DB_BTREE_STAT*>(stats)->bt_nkeys;
    std::free(stats);
    return 0;
  };
  std::string thrown;
  const int ret = run_transaction(*env_, DB_READ_COMMITTED, body, &thrown);
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
