// Helpers for the reliability suites (test/reliability_*_test.cc), beside
// the daemon fixture (support/daemon_process.h): clients that measure their
// reply times, database verification, and fault injection (tmpfs,
// file-descriptor limits).
//
// Every wait here is bounded by a deadline; every process, thread and mount
// made here is undone by a destructor, so a failed check (doctest throws)
// leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/child_process.h"
#include "support/daemon_process.h"

namespace greylist::testing {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// A number from the environment (the soak command scales the suites with
// GREYLIST_SOAK_* variables), or `fallback`.
long env_number(const char* name, long fallback);

// --- the daemon -----------------------------------------------------------
// DaemonProcess (support/daemon_process.h): the built daemon on a temporary
// directory, policy on a free loopback port, log in dir/daemon.log.

// Counts non-overlapping occurrences of `needle` in `text`.
std::size_t count_of(const std::string& text, const std::string& needle);

// --- requests and replies -------------------------------------------------

// `n` spelled in letters ("a", "b", ... "ba"): unique sender names that
// survive postgrey's sender normalization, which turns digit runs into '#'.
std::string letters(std::uint64_t n);

// A policy request (RCPT stage, unverified client name) for one triplet.
std::string policy_request(const std::string& client_address, const std::string& sender,
                           const std::string& recipient);

bool is_greylist_reply(const std::optional<std::string>& reply);
bool is_dunno_reply(const std::optional<std::string>& reply);
bool is_tempfail_reply(const std::optional<std::string>& reply);  // --on-error tempfail
// For "action=PREPEND X-Greylist: delayed N seconds ...": N.
std::optional<long> prepended_delay(const std::optional<std::string>& reply);

// --- measuring a well-behaved client ---------------------------------------

struct LatencyStats {
  std::size_t requests = 0;
  std::size_t failures = 0;  // no reply, or a connection that broke
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::string text() const;  // "n=... p50=... p99=... max=... failures=..."
};

LatencyStats summarize(std::vector<double> samples_ms, std::size_t failures);

// A policy client in its own thread asking one request every `pause` on one
// connection (new triplets, so every request writes), recording each reply
// time; it reconnects after a failure. stop() ends it and summarizes.
class PolicyProbe {
 public:
  PolicyProbe(int port, std::string tag, Millis pause = Millis(2));
  ~PolicyProbe();
  PolicyProbe(const PolicyProbe&) = delete;
  PolicyProbe& operator=(const PolicyProbe&) = delete;
  LatencyStats stop();

 private:
  void run(int port, std::string tag, Millis pause);
  std::atomic<bool> stop_{false};
  std::vector<double> samples_;
  std::size_t failures_ = 0;
  std::thread thread_;
};

// --- the database -----------------------------------------------------------

// Copies the database files of `dbdir` (triplets.db, clients.db, log.*;
// never the __db.* region files, through which db5.3_verify would read a
// live cache) to a scratch directory and runs db5.3_verify on both tables.
// Empty when they verify; otherwise db5.3_verify's output. Safe while the
// daemon runs only when no write is in progress (right after start-up,
// recovery has flushed its result to the files).
std::string verify_database_copy(const std::string& dbdir);

// Total bytes of the regular files in `dir`, and of those named log.*.
std::uint64_t directory_bytes(const std::string& dir);
std::uint64_t log_file_bytes(const std::string& dir);
std::size_t log_file_count(const std::string& dir);

// Whether `needle` occurs anywhere in the file's bytes.
bool file_contains(const std::string& path, const std::string& needle);

// --- faults and limits -------------------------------------------------------

// A tmpfs of `size` mounted at `path` (created if needed) for the life of
// the object; unmounted (lazily, so a busy mount cannot fail the test) by
// the destructor. ok() is false with error() set when mounting is not
// permitted (not root, no CAP_SYS_ADMIN in a container): tests skip then.
class TmpfsMount {
 public:
  TmpfsMount(std::string path, const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the
// hard limit; as root the hard limit too). Returns the soft limit now.
std::uint64_t raise_fd_limit(std::uint64_t wanted);

// Sets the soft RLIMIT_NOFILE for the life of the object (a child started
// meanwhile inherits it) and restores the old one.
class ScopedSoftFdLimit {
 public:
  explicit ScopedSoftFdLimit(std::uint64_t soft);
  ~ScopedSoftFdLimit();
  ScopedSoftFdLimit(const ScopedSoftFdLimit&) = delete;
  ScopedSoftFdLimit& operator=(const ScopedSoftFdLimit&) = delete;

 private:
  std::uint64_t old_soft_ = 0;
  bool changed_ = false;
};

// A line of /proc/PID/status ("Uid:", "Groups:", "CapEff:") without its name,
// and the soft "Max open files" of /proc/PID/limits (0 if unreadable).
std::string proc_status_field(pid_t pid, const std::string& field);
std::uint64_t proc_soft_fd_limit(pid_t pid);

}  // namespace greylist::testing
