// BdbDirectory: a Berkeley DB store's directory, its files and who uses it.
//
// One process owns the directory: it holds an exclusive flock on
// greylist-milter.lock for as long as its store is open. A process allowed
// to join (BdbOptions::Sharing::kJoinIfBusy) that finds the directory owned
// joins the owner's environment instead. greylist-milter.users.lock is the
// gate: an owner holds it exclusively from before it takes the directory
// until its recovery is over and its tables are open (open_gate()), a
// joined process holds it shared for as long as it is attached, so recovery
// never runs while another process is attached. Lock files are created mode
// 0600. RELIABILITY.md ("Berkeley DB store") describes the directory.
// Thread-safety: none; the store calls it while opening, reopening (its
// reopen lock held) and closing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "greylist/status.h"
#include "greylist/store.h"
#include "store/bdb_options.h"

namespace greylist {

// What BdbDirectory::move_aside() did: the new subdirectory of the database
// directory ("corrupt-YYYYMMDD-HHMMSS", local time) and the files moved.
struct BdbMovedAside {
  std::string subdirectory;
  std::vector<std::string> files;
};

class BdbDirectory {
 public:
  enum class Role { kOwner, kJoined };

  // Nothing is taken until acquire().
  explicit BdbDirectory(std::string directory);
  // release()
  ~BdbDirectory();
  BdbDirectory(const BdbDirectory&) = delete;
  BdbDirectory& operator=(const BdbDirectory&) = delete;

  // Whether `directory` can hold a store: ok, kInvalidArgument when it is
  // not given, does not exist or is not a directory, kIoError when it cannot
  // be examined or is not writable and searchable by the effective ids.
  static Status check(const std::string& directory);

  // Takes the directory: as its owner, or (kJoinIfBusy, when another
  // process owns it) joined; each waits at most options.gate_timeout for
  // the gate.
  // kUnavailable when another process owns it (kExclusive: "database
  // directory X is in use by another process (lock file
  // X/greylist-milter.lock)"), a tool stayed attached or an owner's recovery
  // did not end in time; kIoError when a lock file cannot be opened or
  // locked.
  // kExclusive with options.owner_wait: an owner that leaves within it is
  // waited for (on_owner_wait called once), still holding the gate, so no
  // tool joins an environment not yet recovered.
  Result<Role> acquire(const BdbOptions& options);

  // True after acquire() made this process the owner.
  bool owner() const { return lock_fd_ >= 0 && !joined_; }
  bool joined() const { return joined_; }

  // Opens the gate (gives up its hold on it): the owner, once recovered and
  // complete, lets processes waiting to join come in.
  void open_gate();
  // The owner, before recovering again: takes the gate exclusively without
  // waiting (a process attached keeps it: then EWOULDBLOCK). 0 or errno;
  // held until open_gate().
  int close_gate_now();
  std::string gate_path() const;

  // Gives up the directory: the lock file first, then the gate. Call once
  // detached from the environment (an owner may recover it next).
  void release();

  // triplets.db or clients.db.
  static const char* table_file(Table table);
  // A file of the environment: a table, a log file, a region file.
  static bool is_environment_file(const std::string& name);

  // Whether `directory` takes writes again: `room` bytes free, and a probe
  // file can be created, written and removed.
  static bool takes_writes(const std::string& directory, std::uint64_t room);

  // Moves every environment file of `directory` (not the lock files, nor
  // anything else) into a new subdirectory, mode 0700, by rename(): nothing
  // is deleted or copied. Fails (kUnavailable) while a process uses the
  // directory, and with kIoError naming the file that could not be moved
  // (those moved before it stay in the subdirectory).
  static Result<BdbMovedAside> move_aside(const std::string& directory);

 private:
  // Waits (bounded by owner_wait) for the owner's lock; 0 once taken.
  int wait_for_owner(const BdbOptions& options);
  Status in_use() const;
  // Why waiting for the gate failed: `joining` (shared), else as the owner.
  Status gate_failure(int error, bool joining, std::chrono::milliseconds waited) const;

  const std::string directory_;
  const std::string lock_path_;
  int lock_fd_ = -1;  // holds the flock on greylist-milter.lock (owner only)
  int gate_fd_ = -1;  // greylist-milter.users.lock
  bool joined_ = false;
};

}  // namespace greylist
