// ChildProcess: a program started by a test, with its stderr in a file.
// The destructor SIGKILLs and reaps it if it is still running, so a failed
// test never leaves a daemon behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace greylist::testing {

class ChildProcess {
 public:
  // Starts argv[0] with argv; stdout and stderr go to `output_path`.
  // Throws std::runtime_error when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const std::string& output_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signal_number) const;
  // The wait status once it has exited within `timeout`, nullopt otherwise.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);
  // What the process wrote so far.
  std::string output() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string output_path_;
};

// Runs a program to completion (bounded by `timeout`, then SIGKILLed);
// returns its wait status and sets `output` to what it printed.
int run_program(const std::vector<std::string>& argv, std::string& output,
                std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_loopback_port();

}  // namespace greylist::testing
