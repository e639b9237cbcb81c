#include "store/bdb_diagnostics.h"

#include <db_cxx.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "store/bdb_directory.h"
#include "util/log.h"

namespace greylist {
namespace {

thread_local BdbDiagnostics* t_diagnostics = nullptr;
// Messages kept by one instance, at most.
constexpr std::size_t kMaxKept = 100;

// Berkeley DB may say the same thing once per request (a full disk) or
// hundreds of times during one recovery: let a burst through, so start-up
// diagnostics stay complete, then at most one line a second, so a failing
// disk cannot fill the log too.
class DiagnosticBudget {
 public:
  // Whether to log now; *suppressed is set to the lines dropped before it.
  bool take(unsigned* suppressed) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= kWindow) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= kBurst && now - last_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return false;
    }
    ++used_;
    last_ = now;
    *suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  static constexpr unsigned kBurst = 20;
  static constexpr std::chrono::seconds kWindow{10};
  std::mutex mutex_;
  std::chrono::steady_clock::time_point window_start_{};
  std::chrono::steady_clock::time_point last_{};
  unsigned used_ = 0;
  unsigned suppressed_ = 0;
};

// Whether every environment file in `directory` may be read and written by
// this process (effective ids).
bool environment_files_accessible(const std::string& directory) {
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) return false;
  bool accessible = true;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string name = entry->d_name;
    const std::string path = directory + "/" + name;
    if (BdbDirectory::is_environment_file(name) &&
        ::faccessat(AT_FDCWD, path.c_str(), R_OK | W_OK, AT_EACCESS) != 0) {
      accessible = false;
    }
  }
  ::closedir(listing);
  return accessible;
}

}  // namespace

BdbDiagnostics::BdbDiagnostics() : previous_(t_diagnostics) { t_diagnostics = this; }

BdbDiagnostics::~BdbDiagnostics() { t_diagnostics = previous_; }

std::string BdbDiagnostics::first() const {
  for (const auto& line : lines_) {
    if (!line.empty()) return line;
  }
  return {};
}

bool BdbDiagnostics::show_damage(int error, const std::string& directory) const {
  if (error != DB_RUNRECOVERY && error != EINVAL && error != ENOENT && error != DB_VERIFY_BAD &&
      error != DB_PAGE_NOTFOUND) {
    return false;
  }
  for (const int refusal : {EACCES, EPERM, ENOSPC, EDQUOT, EIO, EROFS, ENOMEM, EMFILE, ENFILE}) {
    const std::string text = std::strerror(refusal);
    for (const auto& line : lines_) {
      if (line.find(text) != std::string::npos) return false;
    }
  }
  return environment_files_accessible(directory);
}

void BdbDiagnostics::on_error(const DbEnv* /*env*/, const char* prefix, const char* message) {
  if (t_diagnostics != nullptr && t_diagnostics->lines_.size() < kMaxKept) {
    t_diagnostics->lines_.emplace_back(message != nullptr ? message : "");
  }
  static DiagnosticBudget* const budget = new DiagnosticBudget;  // never destroyed: exit-safe
  unsigned suppressed = 0;
  if (!budget->take(&suppressed)) return;
  std::string line = "berkeley db: ";
  if (prefix != nullptr) line.append(prefix).append(": ");
  line.append(message != nullptr ? message : "(no message)");
  if (suppressed > 0) line += " (" + std::to_string(suppressed) + " more messages suppressed)";
  log_error(line);
}

void BdbDiagnostics::on_message(const DbEnv* /*env*/, const char* message) {
  log_info(std::string("berkeley db: ") + (message != nullptr ? message : ""));
}

}  // namespace greylist
