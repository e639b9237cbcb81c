// BdbOptions: how a BdbStore opens its Berkeley DB environment.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <cstddef>
#include <string>

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

  // kExclusive: how long open() waits for another process that owns the
  // directory to leave it (a tool such as greylistctl working on a stopped
  // daemon's database: a long dump or import) before failing "in use".
  // Zero: fail at once. `on_owner_wait`, when set, is called once when the
  // wait begins (for one log line).
  std::chrono::milliseconds owner_wait{0};
  std::function<void()> on_owner_wait;
};

}  // namespace greylist
