// Process-wide logging: to stderr (foreground) or syslog (facility mail).
//
// One sink for the whole process, set once at start-up before any thread is
// started; log() is thread-safe. Messages are single lines; callers make
// untrusted text printable first (greylist/log_line.h).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace greylist {

enum class Severity { kDebug, kInfo, kWarning, kError, kCritical };

struct LogSettings {
  enum class Target { kStderr, kSyslog };
  Target target = Target::kStderr;
  int syslog_facility = 2 << 3;  // LOG_MAIL
  std::string ident = "greylist-milter";
  bool verbose = false;  // log kDebug too
  bool quiet = false;    // postgrey's -q: decision lines are not logged
};

// False under LogSettings::quiet: the front ends then skip their decision
// lines (postgrey's action=... lines). Thread-safe after configure_logging.
bool decision_lines_logged();

// Installs the sink. Not thread-safe: call before starting threads.
void configure_logging(const LogSettings& settings);

// Changes LogSettings::verbose and ::quiet of the installed sink (SIGHUP);
// thread-safe, takes effect for the next line.
void set_log_verbosity(bool verbose, bool quiet);

// Writes one line. Warnings are prefixed "warning: ", errors "error: ",
// critical "fatal: " (Postfix style). Thread-safe.
void log(Severity severity, std::string_view message);

inline void log_info(std::string_view m) { log(Severity::kInfo, m); }
inline void log_warning(std::string_view m) { log(Severity::kWarning, m); }
inline void log_error(std::string_view m) { log(Severity::kError, m); }
inline void log_debug(std::string_view m) { log(Severity::kDebug, m); }

// Lets through one message per interval and counts the rest, so a failing
// database or a flood of bad peers cannot fill the disk with log lines.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::chrono::seconds interval) : interval_(interval) {}
  // Logs `message` (with "(N similar messages suppressed)" appended when
  // some were) if the interval has passed since the last one logged.
  void log(Severity severity, std::string_view message);

 private:
  std::chrono::seconds interval_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point last_{};
  bool logged_once_ = false;
  unsigned suppressed_ = 0;
};

}  // namespace greylist
