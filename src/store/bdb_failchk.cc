#include "store/bdb_failchk.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "store/bdb_status.h"

namespace greylist::bdb {

int process_is_alive(DbEnv* /*env*/, pid_t pid, db_threadid_t /*thread*/, u_int32_t /*flags*/) {
  if (pid == ::getpid()) return 1;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

int release_dead_lockers(DbEnv& env) {
  static std::mutex one_at_a_time;
  std::lock_guard lock(one_at_a_time);
  return env.failchk(0);
}

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

}  // namespace greylist::bdb
