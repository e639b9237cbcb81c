#include "util/log.h"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>

namespace greylist {
namespace {

LogSettings g_settings;
std::mutex g_stderr_mutex;

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

void configure_logging(const LogSettings& settings) {
  g_settings = settings;
  if (settings.target == LogSettings::Target::kSyslog) {
    // openlog keeps the pointer: g_settings.ident lives for the whole process.
    openlog(g_settings.ident.c_str(), LOG_PID | LOG_NDELAY, settings.syslog_facility);
  }
}

void log(Severity severity, std::string_view message) {
  if (severity == Severity::kDebug && !g_settings.verbose) return;
  const int length = message.size() > 8000 ? 8000 : static_cast<int>(message.size());
  if (g_settings.target == LogSettings::Target::kSyslog) {
    syslog(syslog_priority(severity), "%s%.*s", prefix(severity), length, message.data());
    return;
  }
  std::lock_guard lock(g_stderr_mutex);
  std::fprintf(stderr, "%s[%d]: %s%.*s\n", g_settings.ident.c_str(), static_cast<int>(getpid()),
               prefix(severity), length, message.data());
  std::fflush(stderr);
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
