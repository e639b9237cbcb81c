// DaemonProcess: the built greylist-milter (GREYLIST_MILTER_BINARY, the path
// meson gives) run by a test as an admin runs it, on loopback.
//
// Each object owns a fresh temporary directory `dir` holding the database
// (`dbdir` = dir/db), the whitelist files dir/clients and dir/recipients
// (created empty; other names can be set), and the daemon's log, dir/daemon.log (stderr and stdout,
// appended over restarts). The policy front end listens on a free loopback
// port, `policy_port`; the milter on `milter` when set ("unix:PATH"), else on
// 127.0.0.1:`milter_port` when that is not 0, else nowhere.
//
// Every wait is bounded by a deadline. The destructor SIGKILLs a daemon still
// running and removes the directory (kept when the environment variable
// named by `keep_variable` is set), so a failed check (doctest throws)
// leaves nothing behind. Not thread-safe: one test thread drives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace greylist::testing {

class DaemonProcess {
 public:
  using Millis = std::chrono::milliseconds;

  // `prefix` names the temporary directory (PREFIX-XXXXXX).
  explicit DaemonProcess(const std::string& prefix);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

 private:
  TempDir temp_;  // first: the members below are paths inside it

 public:
  const std::string dir;
  std::string dbdir;  // dir/db unless a test points it elsewhere before a start
  int policy_port = 0;
  int milter_port = 0;  // 0 (and `milter` empty): --milter none
  std::string milter;   // a socket spec ("unix:PATH"); overrides milter_port
  std::string hostname = "test.host";
  std::string clients_file = "clients";        // --whitelist-clients dir/clients_file
  std::string recipients_file = "recipients";  // --whitelist-recipients dir/recipients_file
  // When set, the command line is only `--config config` and the options
  // below: the file names the sockets (policy on policy_port), the database
  // and the log (stderr).
  std::string config;
  // Options added to every start (before the per-start ones).
  std::vector<std::string> base_options;
  const char* keep_variable = "GREYLIST_TEST_KEEP";

  // The command line start() and spawn() use. It ends in `--pool-by-spf no`
  // unless an option names --pool-by-spf: no test asks the machine's DNS
  // (SPF tests set it, with a loopback --dns-server). With `config`, a
  // pool-by-spf line in the file is thus overridden.
  std::vector<std::string> command(const std::vector<std::string>& extra = {}) const;
  // Starts the daemon and waits (up to `ready`) until it serves: its policy
  // port answers a request that touches no database, and its milter socket
  // (if any) accepts a connection. False when it exited or was not ready in
  // time (it is left running then: stop() or the destructor ends it).
  bool start(const std::vector<std::string>& extra = {}, Millis ready = Millis(15000));
  // Starts without waiting (for start-up failures and slow starts).
  void spawn(const std::vector<std::string>& extra = {});
  // The wait of start() for a daemon spawn() started.
  bool wait_until_serving(Millis ready = Millis(15000));
  // SIGTERM, then waits up to `timeout`; the wait status, nullopt on timeout
  // (or when nothing runs).
  std::optional<int> stop(Millis timeout = Millis(5000));
  // SIGKILL and reap.
  void kill9();
  void signal(int signal_number) const;
  // The wait status once it has exited within `timeout`; nullopt otherwise.
  std::optional<int> wait_for_exit(Millis timeout);
  // Whether it is running now (an exited daemon is reaped).
  bool running() { return process_ != nullptr && !wait_for_exit(Millis(0)); }
  pid_t pid() const;  // -1 when not running

  // Writes dir/name atomically (a new file renamed over the old one), as an
  // admin's editor or deployment does: the daemon never sees half a file.
  void write(const std::string& name, const std::string& content) const;

  // The whole log (every start), and the part written since the last start.
  std::string log() const;
  std::string log_since_start() const;
  // Waits (bounded) until the log since the last start contains `text`.
  bool log_shows(const std::string& text, Millis timeout = Millis(5000)) const;
  // How many lines of the log since the last start contain `text`; and a
  // bounded wait until there are at least `count` (the count then).
  std::size_t lines_with(const std::string& text) const;
  std::size_t wait_lines_with(const std::string& text, std::size_t count,
                              Millis timeout = Millis(5000)) const;

 private:
  std::unique_ptr<ChildProcess> process_;
  std::size_t log_offset_ = 0;
};

// Whether a TCP connection to 127.0.0.1:port is accepted now.
bool accepts_connections(int port);

}  // namespace greylist::testing
