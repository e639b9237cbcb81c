// Running in the background: --daemonize and --pidfile.
#pragma once

#include <string>

#include "greylist/status.h"

namespace greylist {

// Detaches from the terminal (fork, setsid, fork). The calling (parent)
// process does not return: it waits until the daemon reports readiness
// through report_started() (exit 0) or a start-up error through
// report_failed() (the message on stderr, exit 1), so `greylist-milter
// --daemonize` in a script fails when the daemon does. Call before any
// thread is started. `keep_stderr` keeps stderr (for --log stderr);
// otherwise stdin/stdout/stderr go to /dev/null.
Status detach(bool keep_stderr);

// Tell the waiting parent (if any) how start-up went; no-ops otherwise.
void report_started();
void report_failed(const std::string& message);

// A pid file held with an exclusive flock for the life of the process, so a
// file left by a killed daemon is simply taken over, while a running one is
// detected ("already running, pid N").
class PidFile {
 public:
  static Result<PidFile> create(const std::string& path);
  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&&) = delete;
  ~PidFile();  // unlinks the file (if still possible) and releases the lock

 private:
  PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace greylist
