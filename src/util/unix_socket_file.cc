#include "util/unix_socket_file.h"

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
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // A full backlog (EAGAIN) is a live listener too.
  const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 ||
                    errno == EAGAIN;
  close(fd);
  return live;
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
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return UnixSocketFile(path, st.st_dev, st.st_ino);
}

Status UnixSocketFile::remove_if_ours() const {
  struct stat st {};
  if (lstat(path_.c_str(), &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) {
    return Status::Ok();
  }
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("cannot remove " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace greylist
