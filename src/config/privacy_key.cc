#include "config/privacy_key.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace greylist {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kMaxKeyBytes = 4096;

Status error(const std::string& what, const std::string& path) {
  return Status::IoError("privacy key " + path + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::string> load_or_create_privacy_key(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    unsigned char key[kKeyBytes];
    if (getrandom(key, sizeof key, 0) != static_cast<ssize_t>(sizeof key)) {
      return error("cannot get random bytes", path);
    }
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return error("cannot create", path);
    const bool written = write(fd, key, sizeof key) == static_cast<ssize_t>(sizeof key) &&
                         fsync(fd) == 0;
    close(fd);
    if (!written) return error("cannot write", path);
    return std::string(reinterpret_cast<const char*>(key), sizeof key);
  }
  if (fd < 0) return error("cannot open", path);
  std::string key(kMaxKeyBytes, '\0');
  const ssize_t n = read(fd, key.data(), key.size());
  close(fd);
  if (n < 0) return error("cannot read", path);
  if (n < 16) {
    errno = EINVAL;
    return error("shorter than 16 bytes", path);
  }
  key.resize(static_cast<std::size_t>(n));
  return key;
}

Result<std::string> read_privacy_key(const DaemonOptions& settings) {
  if (!settings.greylist.privacy) return std::string();
  const std::string path = settings.privacy_key_file.empty() ? settings.dbdir + "/privacy.key"
                                                             : settings.privacy_key_file;
  // Never create one: a new key would not match anything stored.
  if (access(path.c_str(), F_OK) != 0) {
    return Status::IoError("privacy key " + path + " (--privacy is on): " + std::strerror(errno));
  }
  return load_or_create_privacy_key(path);
}

}  // namespace greylist
