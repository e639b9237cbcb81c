// BdbDiagnostics: what Berkeley DB says.
//
// Its error and informational messages go to the process log (util/log.h),
// prefixed "berkeley db: "; errors at most 20 in a burst per 10 s, then at
// most one a second (with a count of those dropped), so a failing disk
// cannot fill the log. While a BdbDiagnostics lives, the error messages
// Berkeley DB reports in its thread are also kept (at most 100), for the
// opener to tell damaged files from a system that refused.
// Thread-safety: the callbacks may run on any thread; an instance belongs to
// the thread that created it.
#pragma once

#include <string>
#include <vector>

class DbEnv;

namespace greylist {

class BdbDiagnostics {
 public:
  // Starts keeping this thread's messages (an earlier instance of the thread
  // is suspended until this one is destroyed).
  BdbDiagnostics();
  ~BdbDiagnostics();
  BdbDiagnostics(const BdbDiagnostics&) = delete;
  BdbDiagnostics& operator=(const BdbDiagnostics&) = delete;

  // The first non-empty message kept, "" when none.
  std::string first() const;

  // Whether the owner's failure `error` to open (recover) the environment in
  // `directory` or a table means damaged files that recovery cannot repair:
  // Berkeley DB gave up on them (DB_RUNRECOVERY, a malformed file, a log
  // that does not match), and nothing says the system refused instead (a
  // message naming a permission, space or I/O error, an environment file
  // the process may not read and write), which moving files would not cure.
  bool show_damage(int error, const std::string& directory) const;

  // For DbEnv::set_errcall and DbEnv::set_msgcall.
  static void on_error(const DbEnv* env, const char* prefix, const char* message);
  static void on_message(const DbEnv* env, const char* message);

 private:
  std::vector<std::string> lines_;
  BdbDiagnostics* const previous_;
};

}  // namespace greylist
