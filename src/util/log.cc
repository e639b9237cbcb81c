#include "util/log.h"

#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <string>

namespace greylist {
namespace {

LogSettings g_settings;
// g_settings.verbose and .quiet, which change while threads log.
std::atomic<bool> g_verbose{false};
std::atomic<bool> g_quiet{false};
std::mutex g_stderr_mutex;
// The process id in stderr lines, kept instead of a getpid() call per line;
// a forked child (daemonizing) takes its own.
pid_t g_pid = getpid();
void refresh_pid() { g_pid = getpid(); }
[[maybe_unused]] const int g_pid_refresh_registered = pthread_atfork(nullptr, nullptr, refresh_pid);

int syslog_priority(Severity severity) {
  switch (severity) {
    case Severity::kDebug: return LOG_DEBUG;
    case Severity::kInfo: return LOG_INFO;
    case Severity::kWarning: return LOG_WARNING;
    case Severity::kError: return LOG_ERR;
    case Severity::kCritical: return LOG_CRIT;
  }
  return LOG_INFO;
}

const char* prefix(Severity severity) {
  switch (severity) {
    case Severity::kWarning: return "warning: ";
    case Severity::kError: return "error: ";
    case Severity::kCritical: return "fatal: ";
    default: return "";
  }
}

}  // namespace

bool decision_lines_logged() { return !g_quiet.load(std::memory_order_relaxed); }

void configure_logging(const LogSettings& settings) {
  g_settings = settings;
  set_log_verbosity(settings.verbose, settings.quiet);
  refresh_pid();
  if (settings.target == LogSettings::Target::kSyslog) {
    // openlog keeps the pointer: g_settings.ident lives for the whole process.
    openlog(g_settings.ident.c_str(), LOG_PID | LOG_NDELAY, settings.syslog_facility);
  }
}

void set_log_verbosity(bool verbose, bool quiet) {
  g_verbose.store(verbose, std::memory_order_relaxed);
  g_quiet.store(quiet, std::memory_order_relaxed);
}

void log(Severity severity, std::string_view message) {
  if (severity == Severity::kDebug && !g_verbose.load(std::memory_order_relaxed)) return;
  const int length = message.size() > 8000 ? 8000 : static_cast<int>(message.size());
  if (g_settings.target == LogSettings::Target::kSyslog) {
    syslog(syslog_priority(severity), "%s%.*s", prefix(severity), length, message.data());
    return;
  }
  // The line is built first and written with one write(2), not through
  // stdio: one system call per line, no stdio lock, and lines from several
  // threads never interleave.
  std::string line;
  line.reserve(g_settings.ident.size() + static_cast<std::size_t>(length) + 32);
  line += g_settings.ident;
  line += '[';
  line += std::to_string(g_pid);
  line += "]: ";
  line += prefix(severity);
  line.append(message.data(), static_cast<std::size_t>(length));
  line += '\n';
  std::lock_guard lock(g_stderr_mutex);  // a pipe splits writes over PIPE_BUF bytes
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report it
    written += static_cast<std::size_t>(n);
  }
}

void RateLimitedLog::log(Severity severity, std::string_view message) {
  unsigned suppressed = 0;
  {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (logged_once_ && now - last_ < interval_) {
      ++suppressed_;
      return;
    }
    logged_once_ = true;
    last_ = now;
    suppressed = suppressed_;
    suppressed_ = 0;
  }
  if (suppressed == 0) {
    greylist::log(severity, message);
  } else {
    greylist::log(severity, std::string(message) + " (" + std::to_string(suppressed) +
                                " similar messages suppressed)");
  }
}

}  // namespace greylist
