#include "store/bdb_store.h"

#include <db_cxx.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <thread>
#include <utility>

#include "store/bdb_diagnostics.h"
#include "store/bdb_environment.h"
#include "store/bdb_failchk.h"
#include "store/bdb_maintenance.h"
#include "store/bdb_shared_commits.h"

namespace greylist {
namespace {

using bdb::kBodyThrew;
using bdb::kKeyTooLarge;
using bdb::kWriteOfAbsentValue;

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

// Runs body(txn) in a transaction and commits when it returns 0 (through
// `commits` when given: deferred inside its Scope), aborts otherwise. A
// transaction that lost a lock conflict is retried from the start
// (bdb_failchk.h). Returns 0, a Berkeley DB / errno code, or one of
// bdb_status.h's (kBodyThrew with *thrown set to the exception text).
template <typename Body>
int run_transaction(DbEnv& env, u_int32_t txn_flags, Body&& body, std::string* thrown,
                    BdbSharedCommits* commits = nullptr) {
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
      ret = commits != nullptr ? commits->commit(txn) : txn->commit(0);
    } else {
      txn->abort();
    }
    if (!bdb::retry_after_conflict(env, ret, attempt, timeouts)) return ret;
    std::this_thread::yield();
  }
}

// The verdict's write or delete of key in a transaction.
int write_verdict(Db& database, DbTxn* txn, Dbt& key, const UpdateOutcome& outcome,
                  const std::optional<std::string>& value, bool existed) {
  switch (outcome.verdict) {
    case UpdateOutcome::Verdict::kKeep:
      return 0;
    case UpdateOutcome::Verdict::kWrite: {
      if (!value) return kWriteOfAbsentValue;
      if (!fits_dbt(*value)) return kKeyTooLarge;
      Dbt v = input_dbt(*value);
      return database.put(txn, &key, &v, 0);
    }
    case UpdateOutcome::Verdict::kErase: {
      if (!existed) return 0;
      const int ret = database.del(txn, &key, 0);
      return ret == DB_NOTFOUND ? 0 : ret;
    }
  }
  return 0;
}

}  // namespace

BdbStore::BdbStore(BdbOptions options)
    : options_(std::move(options)),
      directory_(std::make_unique<BdbDirectory>(options_.directory)),
      environment_(std::make_unique<BdbEnvironment>(options_, *directory_)) {}

BdbStore::~BdbStore() {
  shared_commits_.reset();
  maintenance_.reset();
  environment_->close();
  directory_->release();
}

Result<std::unique_ptr<BdbStore>> BdbStore::open(const BdbOptions& options) {
  if (Status checked = BdbDirectory::check(options.directory); !checked.ok()) return checked;
  try {
    std::unique_ptr<BdbStore> store(new BdbStore(options));
    if (Status opened = store->open_files(); !opened.ok()) return opened;
    store->shared_commits_ =
        std::make_unique<BdbSharedCommits>(*store->environment_, options.sync);
    if (BdbMaintenance::needed(*store->environment_, options.checkpoint_interval)) {
      store->maintenance_ =
          std::make_unique<BdbMaintenance>(*store->environment_, options.checkpoint_interval);
    }
    return store;
  } catch (const std::exception& e) {
    // Allocation or thread creation failed; whatever was opened is closed
    // by the store's destructor.
    return Status::IoError("berkeley db in " + options.directory + ": open failed: " + e.what());
  }
}

Status BdbStore::open_files() {
  BdbDiagnostics diagnostics;
  auto role = directory_->acquire(options_);
  const Status opened = role.ok() ? environment_->open() : role.status();
  if (opened.ok()) {
    // Recovered and complete: processes waiting to join may come in.
    if (directory_->owner()) directory_->open_gate();
    return opened;
  }
  if (directory_->owner() && diagnostics.show_damage(environment_->open_error(), options_.directory)) {
    const std::string detail = diagnostics.first();
    return Status::Corruption(opened.message() +
                              (detail.empty() ? "" : " (Berkeley DB: " + detail + ")"));
  }
  return opened;
}

Result<BdbStore::MovedAside> BdbStore::move_aside(const std::string& directory) {
  return BdbDirectory::move_aside(directory);
}

Status BdbStore::checkpoint() { return environment_->checkpoint(); }

DeferredCommits* BdbStore::deferred_commits() { return shared_commits_.get(); }

// First a look without a transaction: most updates on the request path (a
// passed triplet, a retry too early) leave the entry as it is, and then the
// look was the whole update. Only when fn wants to change something does a
// transaction read the entry again, locked for writing; if it is still what
// fn saw, fn's answer is applied as it is (fn depends only on its argument),
// else fn is called again on the current value.
Status BdbStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  std::string thrown;
  Plan plan;
  int result = environment_->with_handles([&] { return look(table, key, fn, plan, &thrown); });
  if (result != 0) return environment_->failure("update", table, result, thrown);
  if (plan.outcome.verdict == UpdateOutcome::Verdict::kKeep ||
      (plan.outcome.verdict == UpdateOutcome::Verdict::kErase && !plan.seen)) {
    return Status::Ok();
  }
  bool called_in_transaction = false;
  auto body = [&](DbTxn* txn) {
    return apply(txn, table, key, fn, plan, &called_in_transaction);
  };
  result = environment_->with_handles([&] {
    return run_transaction(environment_->env(), 0, body, &thrown, shared_commits_.get());
  });
  if (result != 0) return environment_->failure("update", table, result, thrown);
  return Status::Ok();
}

int BdbStore::look(Table table, std::string_view key, const UpdateFunction& fn, Plan& plan,
                   std::string* thrown) {
  const int read = read_committed(table, key, plan.seen);
  if (read != 0) return read;
  plan.proposed = plan.seen;
  try {
    plan.outcome = fn(plan.proposed);
  } catch (const std::exception& e) {
    *thrown = e.what();
    return kBodyThrew;
  } catch (...) {
    *thrown = "unknown exception";
    return kBodyThrew;
  }
  return 0;
}

int BdbStore::apply(DbTxn* txn, Table table, std::string_view key, const UpdateFunction& fn,
                    const Plan& plan, bool* called) {
  Db& database = environment_->table(table);
  if (!fits_dbt(key)) return kKeyTooLarge;
  Dbt k = input_dbt(key);
  // A new entry (absent at the look, fn wrote it): insert it unless the key
  // appeared meanwhile, which the put checks under its write lock; that
  // saves the read below on every first sighting of a triplet.
  if (!*called && !plan.seen && plan.outcome.verdict == UpdateOutcome::Verdict::kWrite &&
      plan.proposed && fits_dbt(*plan.proposed)) {
    Dbt v = input_dbt(*plan.proposed);
    const int inserted = database.put(txn, &k, &v, DB_NOOVERWRITE);
    if (inserted != DB_KEYEXIST) return inserted;
    // Written by someone else since the look: read it and decide again.
  }
  OutputDbt data;
  // DB_RMW takes the write lock now, so two updates of one key cannot both
  // read the old value (no lost update, no read-to-write lock upgrade).
  const int ret = database.get(txn, &k, data.get(), DB_RMW);
  std::optional<std::string> current;
  if (ret == 0) {
    current.emplace(data.view());
  } else if (ret != DB_NOTFOUND) {
    return ret;
  }
  const bool existed = current.has_value();
  // Changed since the look: decide again. So also after fn ran in an
  // attempt that was then retried (its side effects are the latest).
  if (*called || current != plan.seen) {
    *called = true;
    const UpdateOutcome outcome = fn(current);
    return write_verdict(database, txn, k, outcome, current, existed);
  }
  return write_verdict(database, txn, k, plan.outcome, plan.proposed, existed);
}

Result<std::optional<std::string>> BdbStore::get(Table table, std::string_view key) {
  std::optional<std::string> value;
  const int ret = environment_->with_handles([&] { return read_committed(table, key, value); });
  if (ret != 0) return environment_->failure("get", table, ret);
  return value;
}

int BdbStore::read_committed(Table table, std::string_view key, std::optional<std::string>& value) {
  if (!fits_dbt(key)) return kKeyTooLarge;
  Db& database = environment_->table(table);
  Dbt k = input_dbt(key);
  // No transaction: a read takes its page locks only for the duration of
  // the call and logs nothing, which saves a txn_begin and a commit per
  // look-up. It sees committed data only (a page written by an open
  // transaction is locked until that commits or aborts).
  int timeouts = 0;
  for (int attempt = 1;; ++attempt) {
    value.reset();
    OutputDbt data;
    int ret = database.get(nullptr, &k, data.get(), 0);
    if (ret == DB_NOTFOUND) return 0;
    if (ret == 0) {
      value.emplace(data.view());
      return 0;
    }
    if (!bdb::retry_after_conflict(environment_->env(), ret, attempt, timeouts)) return ret;
    std::this_thread::yield();
  }
}

Status BdbStore::put(Table table, std::string_view key, std::string_view value,
                     EpochSeconds /*expires_at*/) {
  auto body = [&](DbTxn* txn) -> int {
    if (!fits_dbt(key) || !fits_dbt(value)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    Dbt v = input_dbt(value);
    return environment_->table(table).put(txn, &k, &v, 0);
  };
  std::string thrown;
  const int ret = environment_->with_handles([&] {
    return run_transaction(environment_->env(), 0, body, &thrown, shared_commits_.get());
  });
  if (ret != 0) return environment_->failure("put", table, ret, thrown);
  return Status::Ok();
}

Status BdbStore::erase(Table table, std::string_view key) {
  auto body = [&](DbTxn* txn) -> int {
    if (!fits_dbt(key)) return kKeyTooLarge;
    Dbt k = input_dbt(key);
    const int ret = environment_->table(table).del(txn, &k, 0);
    return ret == DB_NOTFOUND ? 0 : ret;
  };
  std::string thrown;
  const int ret = environment_->with_handles([&] {
    return run_transaction(environment_->env(), 0, body, &thrown, shared_commits_.get());
  });
  if (ret != 0) return environment_->failure("erase", table, ret, thrown);
  return Status::Ok();
}

Result<std::vector<StoreEntry>> BdbStore::scan(Table table, std::string_view after,
                                               std::size_t limit) {
  std::vector<StoreEntry> out;
  if (limit == 0) return out;
  auto body = [&](DbTxn* txn) -> int {
    out.clear();  // a retried attempt starts over
    if (!fits_dbt(after)) return kKeyTooLarge;
    Dbc* raw_cursor = nullptr;
    int ret = environment_->table(table).cursor(txn, &raw_cursor, DB_READ_COMMITTED);
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
  const int ret = environment_->with_handles(
      [&] { return run_transaction(environment_->env(), DB_READ_COMMITTED, body, &thrown); });
  if (ret != 0) return environment_->failure("scan", table, ret, thrown);
  return out;
}

Result<std::uint64_t> BdbStore::count(Table table) {
  std::uint64_t n = 0;
  auto body = [&](DbTxn* txn) -> int {
    void* stats = nullptr;
    const int ret = environment_->table(table).stat(txn, &stats, DB_READ_COMMITTED);
    if (ret != 0) return ret;
    n = static_cast<const DB_BTREE_STAT*>(stats)->bt_nkeys;
    std::free(stats);
    return 0;
  };
  std::string thrown;
  const int ret = environment_->with_handles(
      [&] { return run_transaction(environment_->env(), DB_READ_COMMITTED, body, &thrown); });
  if (ret != 0) return environment_->failure("count", table, ret, thrown);
  return n;
}

}  // namespace greylist
