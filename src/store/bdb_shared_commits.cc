#include "store/bdb_shared_commits.h"

#include <db_cxx.h>

#include <cstring>
#include <utility>

#include "store/bdb_environment.h"

namespace greylist {
namespace {

void raise_to(std::atomic<std::uint64_t>& value, std::uint64_t at_least) {
  std::uint64_t seen = value.load();
  while (seen < at_least && !value.compare_exchange_weak(seen, at_least)) {
  }
}

// The flush record: the header recovery reads from every record (type,
// transaction 0: none, previous LSN 0) and a tag for db_printlog readers.
struct FlushRecord {
  std::uint32_t type = BdbSharedCommits::kFlushRecordType;
  std::uint32_t txnid = 0;
  std::uint32_t prev_file = 0;
  std::uint32_t prev_offset = 0;
  char tag[8] = {'g', 'l', 'f', 'l', 'u', 's', 'h', '\0'};
};

}  // namespace

BdbSharedCommits::BdbSharedCommits(BdbEnvironment& environment, BdbOptions::Sync sync)
    : environment_(environment), sync_(sync) {}

BdbSharedCommits::~BdbSharedCommits() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

int BdbSharedCommits::commit(DbTxn* txn) {
  if (deferring_on_this_thread() != this) return txn->commit(0);
  in_flight_.fetch_add(1);
  const int ret = txn->commit(DB_TXN_NOSYNC);
  // Loaded after the commit record was put: the flush with this number, or
  // any later one, begins after it and so writes it.
  raise_to(needed_, next_flush_.load());
  in_flight_.fetch_sub(1);
  return ret;
}

std::uint64_t BdbSharedCommits::incarnation() const { return environment_.failures(); }

// A decision may have read the data of a deferred commit that has not
// returned yet (its locks are released inside DbTxn::commit): while any is
// in progress, the ticket asks for a flush.
DeferredCommits::Ticket BdbSharedCommits::ticket(std::uint64_t incarnation) const {
  Ticket ticket{0, incarnation};
  const std::uint64_t next = next_flush_.load();
  if (in_flight_.load() == 0 && needed_.load() <= completed_.load()) return ticket;
  ticket.flush = next;
  return ticket;
}

bool BdbSharedCommits::covered(const Ticket& ticket) const {
  const bool flushed = ticket.flush == 0 || completed_.load() >= ticket.flush;
  return flushed && environment_.failures() == ticket.incarnation;
}

void BdbSharedCommits::flush(std::function<void(Status)> done) {
  if (sync_ == BdbOptions::Sync::kCrashSafe) {
    done(flush_now());
    return;
  }
  {
    std::lock_guard lock(mutex_);
    waiting_.push_back(std::move(done));
    // Started by the first flush: a tool's store never needs it.
    if (!flusher_.joinable()) flusher_ = std::thread([this] { run_flusher(); });
  }
  wake_.notify_one();
}

Status BdbSharedCommits::flush_now() {
  const std::uint64_t number = next_flush_.fetch_add(1);
  const int ret = environment_.with_handles([&] {
    if (sync_ == BdbOptions::Sync::kFull) return environment_.env().log_flush(nullptr);
    FlushRecord record;
    Dbt data(&record, sizeof record);
    DbLsn lsn;
    return environment_.env().log_put(&lsn, &data, DB_LOG_WRNOSYNC);
  });
  if (ret != 0) return environment_.failure("write the log", ret);
  raise_to(completed_, number);
  return Status::Ok();
}

void BdbSharedCommits::run_flusher() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // stopping, nothing left to flush
    std::vector<std::function<void(Status)>> batch;
    batch.swap(waiting_);
    lock.unlock();
    const Status flushed = flush_now();
    for (auto& done : batch) done(flushed);
    lock.lock();
  }
}

}  // namespace greylist
