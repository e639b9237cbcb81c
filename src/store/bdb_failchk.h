// Lock conflicts and the locks of dead processes in a Berkeley DB
// environment.
//
// A transaction that loses a lock conflict is aborted and retried. A lock
// wait is bounded (kLockTimeoutMicros): a process that died inside a
// transaction (a killed greylistctl) leaves its locks in the shared regions,
// and they would be waited for for ever. A timed-out wait first runs
// failchk, which releases a dead process's locks and aborts its transaction;
// after kMaxLockTimeouts the call fails (--on-error answers).
#pragma once

#include <db_cxx.h>
#include <sys/types.h>

namespace greylist::bdb {

// Conflicts are short (one key), so a few retries are plenty and 20 means
// the environment is in trouble.
constexpr int kMaxAttempts = 20;
constexpr db_timeout_t kLockTimeoutMicros = 2'000'000;
constexpr int kMaxLockTimeouts = 1;
// Slots in Berkeley DB's table of the threads using the environment, which
// failchk needs (an approximate size; it grows when needed).
constexpr u_int32_t kThreadSlots = 256;

// failchk's question (DbEnv::set_isalive). Threads of this process end only
// after their calls into the library have; another process is alive while
// it exists.
int process_is_alive(DbEnv* env, pid_t pid, db_threadid_t thread, u_int32_t flags);

// Releases the locks of dead processes (failchk, one thread of the process
// at a time). 0, or DB_RUNRECOVERY when a process died inside the library
// and only recovery can repair the regions.
int release_dead_lockers(DbEnv& env);

// Whether a call that lost a lock conflict (`ret`) may try again: a
// deadlock, up to kMaxAttempts; a timed-out wait, after failchk, up to
// kMaxLockTimeouts (`timeouts` counts them). Sets `ret` to failchk's error
// when it has one.
bool retry_after_conflict(DbEnv& env, int& ret, int attempt, int& timeouts);

}  // namespace greylist::bdb
