// BdbSharedCommits: a BdbStore's DeferredCommits (greylist/deferred_commits.h).
//
// A commit made on a thread inside one of its Scopes is DB_TXN_NOSYNC: its
// log record stays in Berkeley DB's log buffer. A flush makes every record
// put before it durable: with Sync::kCrashSafe one small log record put
// with DB_LOG_WRNOSYNC, which writes the whole buffer to the OS (no fsync);
// with Sync::kFull DB_ENV->log_flush (write and fsync) on one flusher
// thread, so that one fsync covers every flush asked for while the last one
// ran. The flush record is an application record (type kFlushRecordType)
// outside any transaction: recovery skips it.
//
// Which tickets a flush covers: flushes are numbered in the order they
// begin; a ticket names the first flush that began after its decisions
// ended (any flush from that one on covers it), or none when every deferred
// commit that returned is covered already and none is in progress.
// Incarnation: BdbEnvironment::failures().
//
// Thread-safety: every method from any thread. commit() inside
// BdbEnvironment::with_handles; flush() outside it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "greylist/deferred_commits.h"
#include "store/bdb_options.h"

class DbTxn;

namespace greylist {

class BdbEnvironment;

class BdbSharedCommits final : public DeferredCommits {
 public:
  // The record type of a flush (DB_user_BEGIN + 0x4746 = 28246); recovery
  // and db5.3_recover skip it (no transaction), db5.3_printlog shows it.
  static constexpr std::uint32_t kFlushRecordType = 10000 + 0x4746;

  // `environment` must outlive this. With Sync::kFull the first flush()
  // starts the flusher thread.
  BdbSharedCommits(BdbEnvironment& environment, BdbOptions::Sync sync);
  // Stops the flusher after the flushes asked for so far.
  ~BdbSharedCommits() override;
  BdbSharedCommits(const BdbSharedCommits&) = delete;
  BdbSharedCommits& operator=(const BdbSharedCommits&) = delete;

  // Commits txn: deferred (DB_TXN_NOSYNC) when this thread is in a Scope
  // of this object, else as the environment is configured. Berkeley DB's
  // code, like DbTxn::commit (which frees txn either way).
  int commit(DbTxn* txn);

  bool covered(const Ticket& ticket) const override;
  void flush(std::function<void(Status)> done) override;

 protected:
  std::uint64_t incarnation() const override;
  Ticket ticket(std::uint64_t incarnation) const override;

 private:
  // One flush on the calling thread: numbered, the log written (and with
  // kFull flushed to disk), the number published when it succeeded.
  Status flush_now();
  void run_flusher();

  BdbEnvironment& environment_;
  const BdbOptions::Sync sync_;

  std::atomic<std::uint64_t> next_flush_{1};   // the number the next flush gets
  std::atomic<std::uint64_t> completed_{0};    // highest number that succeeded
  std::atomic<std::uint64_t> needed_{0};       // a flush numbered from this covers every returned deferred commit
  std::atomic<std::uint32_t> in_flight_{0};    // deferred commits inside DbTxn::commit

  // Sync::kFull: the flusher thread and what it is asked.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::function<void(Status)>> waiting_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace greylist
