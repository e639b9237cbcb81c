#include "util/unix_socket_file.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace greylist {
namespace {

// Whether a process accepts connections on the socket at `path`. A path
// too long for sun_path cannot have been bound either: false.
bool someone_accepts(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  // Non-blocking: a listener with a full backlog must not hang the start
  // (EAGAIN: it is live too).
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ||
                    errno == EAGAIN;
  close(fd);
  return live;
}

// The directory part of `path` ("." when it has none).
std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status UnixSocketFile::clear_stale(const std::string& path, const std::string& name) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IoError("cannot listen on " + name + ": " + std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::IoError("cannot listen on " + name + ": the path exists and is not a socket");
  }
  if (someone_accepts(path)) {
    return Status::IoError("cannot listen on " + name +
                           ": another process serves it (another greylist-milter running?)");
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("cannot remove the stale socket " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

std::optional<UnixSocketFile> UnixSocketFile::created(const std::string& path) {
  const int pin = open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (pin < 0) return std::nullopt;
  struct stat st {};
  if (fstat(pin, &st) != 0) {
    close(pin);
    return std::nullopt;
  }
  return UnixSocketFile(path, pin, st.st_dev, st.st_ino);
}

UnixSocketFile::~UnixSocketFile() {
  if (pin_ >= 0) close(pin_);
}

UnixSocketFile::UnixSocketFile(UnixSocketFile&& other) noexcept
    : path_(std::move(other.path_)),
      pin_(std::exchange(other.pin_, -1)),
      device_(other.device_),
      inode_(other.inode_) {}

UnixSocketFile& UnixSocketFile::operator=(UnixSocketFile&& other) noexcept {
  if (this != &other) {
    if (pin_ >= 0) close(pin_);
    path_ = std::move(other.path_);
    pin_ = std::exchange(other.pin_, -1);
    device_ = other.device_;
    inode_ = other.inode_;
  }
  return *this;
}

Status UnixSocketFile::remove_if_ours() const {
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) {
    return Status::Ok();
  }
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
    const int error = errno;
    std::string message = "cannot remove " + path_ + ": " + std::strerror(error);
    if (error == EACCES || error == EPERM || error == EROFS) {
      const std::string dir = directory_of(path_);
      message += " (the service user may not write " + dir +
                 "; the next start replaces the socket. To have it removed at stop, let the "
                 "user write " + dir + " or put the socket in a directory of its own, such as "
                 "/run/greylist-milter)";
    }
    return Status::IoError(message);
  }
  return Status::Ok();
}

}  // namespace greylist
