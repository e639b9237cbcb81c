#include "store/bdb_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <thread>
#include <utility>

#include "store/bdb_region_space.h"
#include "store/bdb_status.h"

namespace greylist {
namespace {

using bdb::errno_text;

constexpr const char* kLockFileName = "greylist-milter.lock";
constexpr const char* kGateFileName = "greylist-milter.users.lock";
constexpr const char* kTableFiles[] = {"triplets.db", "clients.db"};
constexpr int kFileMode = 0600;
// How often a wait for the gate tries again.
constexpr std::chrono::milliseconds kGatePoll{20};

int open_lock_file(const std::string& path) {
  return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, kFileMode);
}

// One non-blocking attempt: 0 or errno.
int try_flock(int fd, int operation) {
  int locked;
  do {
    locked = ::flock(fd, operation | LOCK_NB);
  } while (locked != 0 && errno == EINTR);
  return locked == 0 ? 0 : errno;
}

// flock(fd, operation) without blocking, tried again every kGatePoll until it
// succeeds or `deadline` passes. 0, or the errno of the last attempt
// (EWOULDBLOCK: still held by another process at the deadline).
int flock_until(int fd, int operation, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) return 0;
    const int error = errno;
    if (error == EINTR) continue;
    const auto now = std::chrono::steady_clock::now();
    if (error != EWOULDBLOCK || now >= deadline) return error;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kGatePoll, deadline - now));
  }
}

// "corrupt-YYYYMMDD-HHMMSS" (local time), created mode 0700 in `directory`;
// "-N" appended when it exists.
Result<std::string> make_corrupt_subdirectory(const std::string& directory) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  for (int n = 1;; ++n) {
    std::string name = std::string("corrupt-") + stamp + (n == 1 ? "" : "-" + std::to_string(n));
    if (::mkdir((directory + "/" + name).c_str(), 0700) == 0) return name;
    const int error = errno;
    if (error != EEXIST || n == 100) {
      return Status::IoError("cannot create " + directory + "/" + name + ": " + errno_text(error));
    }
  }
}

// The environment files in `directory`, sorted by name.
Result<std::vector<std::string>> environment_files(const std::string& directory) {
  DIR* listing = ::opendir(directory.c_str());
  if (listing == nullptr) {
    const int error = errno;
    return Status::IoError("cannot read " + directory + ": " + errno_text(error));
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(listing)) {
    if (BdbDirectory::is_environment_file(entry->d_name)) names.emplace_back(entry->d_name);
  }
  ::closedir(listing);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

BdbDirectory::BdbDirectory(std::string directory)
    : directory_(std::move(directory)), lock_path_(directory_ + "/" + kLockFileName) {}

BdbDirectory::~BdbDirectory() { release(); }

Status BdbDirectory::check(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("berkeley db: no database directory given");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      return Status::InvalidArgument("database directory " + dir + " does not exist");
    }
    return Status::IoError("cannot access database directory " + dir + ": " + errno_text(error));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("database directory " + dir + " is not a directory");
  }
  // The effective ids: the daemon opens the database as --user with seteuid.
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    const int error = errno;
    return Status::IoError("database directory " + dir + " is not writable: " + errno_text(error));
  }
  return Status::Ok();
}

std::string BdbDirectory::gate_path() const { return directory_ + "/" + kGateFileName; }

Status BdbDirectory::in_use() const {
  return Status::Unavailable("database directory " + directory_ +
                             " is in use by another process (lock file " + lock_path_ + ")");
}

Status BdbDirectory::gate_failure(int error, bool joining, std::chrono::milliseconds waited) const {
  if (error != EWOULDBLOCK) {
    return Status::IoError("cannot lock " + gate_path() + ": " + errno_text(error));
  }
  const auto waited_text = std::to_string(waited.count()) + " ms";
  if (joining) {
    return Status::Unavailable("database directory " + directory_ +
                               " is being opened with recovery by another process (waited " +
                               waited_text + " for lock file " + gate_path() + ")");
  }
  // A second owner is refused as before, whoever else is attached.
  if (lock_fd_ >= 0 && try_flock(lock_fd_, LOCK_EX) == EWOULDBLOCK) return in_use();
  return Status::Unavailable("database directory " + directory_ +
                             " is still in use by a tool such as greylistctl (waited " +
                             waited_text + " for lock file " + gate_path() + ")");
}

int BdbDirectory::wait_for_owner(const BdbOptions& options) {
  if (options.on_owner_wait) options.on_owner_wait();
  return flock_until(lock_fd_, LOCK_EX, std::chrono::steady_clock::now() + options.owner_wait);
}

Result<BdbDirectory::Role> BdbDirectory::acquire(const BdbOptions& options) {
  const BdbOptions::Sharing sharing = options.sharing;
  const std::chrono::milliseconds gate_timeout = options.gate_timeout;
  lock_fd_ = open_lock_file(lock_path_);
  if (lock_fd_ < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + lock_path_ + ": " + errno_text(error));
  }
  gate_fd_ = open_lock_file(gate_path());
  if (gate_fd_ < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + gate_path() + ": " + errno_text(error));
  }
  // The gate comes first: an owner holds it exclusively from before it takes
  // the directory until recovery is over and the databases are open, so a
  // process holding it shared that finds the directory owned knows the
  // owner's environment is ready to join.
  const bool may_join = sharing == BdbOptions::Sharing::kJoinIfBusy;
  const auto deadline = std::chrono::steady_clock::now() + gate_timeout;
  if (const int error = flock_until(gate_fd_, may_join ? LOCK_SH : LOCK_EX, deadline); error != 0) {
    return gate_failure(error, may_join, gate_timeout);
  }
  int locked = try_flock(lock_fd_, LOCK_EX);
  if (locked == EWOULDBLOCK && !may_join && options.owner_wait.count() > 0) {
    locked = wait_for_owner(options);
  }
  if (locked == EWOULDBLOCK) {
    if (!may_join) return in_use();
    ::close(lock_fd_);
    lock_fd_ = -1;
    joined_ = true;
    return Role::kJoined;
  }
  if (locked != 0) return Status::IoError("cannot lock " + lock_path_ + ": " + errno_text(locked));
  // The owner. Recovery needs every joined process gone (one may remain
  // from an owner that died).
  if (may_join) {
    if (const int error = flock_until(gate_fd_, LOCK_EX, deadline); error != 0) {
      return gate_failure(error, false, gate_timeout);
    }
  }
  return Role::kOwner;
}

void BdbDirectory::open_gate() {
  if (gate_fd_ >= 0) ::close(gate_fd_);
  gate_fd_ = -1;
}

int BdbDirectory::close_gate_now() {
  open_gate();
  gate_fd_ = open_lock_file(gate_path());
  const int locked = gate_fd_ < 0 ? errno : try_flock(gate_fd_, LOCK_EX);
  if (locked != 0) open_gate();
  return locked;
}

void BdbDirectory::release() {
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // releases the flock
    lock_fd_ = -1;
  }
  // Only once detached from the environment: an owner may recover it now.
  open_gate();
}

const char* BdbDirectory::table_file(Table table) {
  return kTableFiles[static_cast<std::size_t>(table)];
}

bool BdbDirectory::is_environment_file(const std::string& name) {
  return name == kTableFiles[0] || name == kTableFiles[1] || name.rfind("log.", 0) == 0 ||
         name.rfind(bdb::kRegionFilePrefix, 0) == 0;
}

bool BdbDirectory::takes_writes(const std::string& dir, std::uint64_t room) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0 || std::uint64_t{fs.f_bavail} * fs.f_frsize < room) {
    return false;
  }
  const std::string probe = dir + "/greylist-milter.probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  const std::string block(4096, '\0');
  const bool written = ::write(fd, block.data(), block.size()) == static_cast<ssize_t>(block.size());
  const bool closed = ::close(fd) == 0;
  ::unlink(probe.c_str());
  return written && closed;
}

Result<BdbMovedAside> BdbDirectory::move_aside(const std::string& directory) {
  BdbDirectory taken(directory);
  taken.lock_fd_ = open_lock_file(taken.lock_path_);
  if (taken.lock_fd_ < 0) {
    const int error = errno;
    return Status::IoError("cannot open lock file " + taken.lock_path_ + ": " + errno_text(error));
  }
  if (try_flock(taken.lock_fd_, LOCK_EX) != 0) return taken.in_use();
  BdbMovedAside moved;
  auto subdirectory = make_corrupt_subdirectory(directory);
  if (!subdirectory.ok()) return subdirectory.status();
  moved.subdirectory = std::move(subdirectory).value();
  auto names = environment_files(directory);
  if (!names.ok()) return names.status();
  for (const auto& name : names.value()) {
    const std::string from = directory + "/" + name;
    const std::string to = directory + "/" + moved.subdirectory + "/" + name;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const int error = errno;
      return Status::IoError("cannot move " + from + " to " + to + ": " + errno_text(error) +
                             (moved.files.empty()
                                  ? std::string()
                                  : " (moved before it: " + std::to_string(moved.files.size()) +
                                        " files)"));
    }
    moved.files.push_back(name);
  }
  return moved;
}

}  // namespace greylist
