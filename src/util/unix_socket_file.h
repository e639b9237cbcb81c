// UnixSocketFile: the file of a unix socket a front end listens on, from
// before its bind to the daemon's clean exit.
//
// Before binding, clear_stale() removes a socket file that nothing serves
// any more (a crashed daemon's) and refuses one a running process still
// serves, so a second instance never steals the first one's socket. After
// binding, created() notes which file it is, and holds it open (O_PATH) so
// that its inode cannot be reused while the object lives; remove_if_ours()
// at a clean exit unlinks the path only while it still names that file (a
// newer instance may have replaced it). Move-only; not thread-safe; no
// exceptions.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>

#include "greylist/status.h"

namespace greylist {

class UnixSocketFile {
 public:
  // Ok when `path` does not exist, or held a socket nobody accepts on
  // (connect() refused) and was removed. IoError, naming `name` (the
  // socket as the admin wrote it, "unix:PATH"), when the path exists and
  // is not a socket, when a process accepts connections on it ("another
  // process serves it"), or when it cannot be examined or removed.
  static Status clear_stale(const std::string& path, const std::string& name);
  // The file now at `path` (just bound); nullopt when it cannot be opened.
  static std::optional<UnixSocketFile> created(const std::string& path);

  ~UnixSocketFile();
  UnixSocketFile(UnixSocketFile&& other) noexcept;
  UnixSocketFile& operator=(UnixSocketFile&& other) noexcept;
  UnixSocketFile(const UnixSocketFile&) = delete;
  UnixSocketFile& operator=(const UnixSocketFile&) = delete;

  // Unlinks the path if it still names the file created() saw (same device
  // and inode). Ok when it was removed or is no longer ours; IoError
  // "cannot remove PATH: REASON" when unlink() failed. After dropping
  // privileges the directory may not be writable (EACCES, EPERM, EROFS):
  // the message then goes on to say so, naming the directory, that the
  // next start replaces the file as stale, and what the admin can do.
  Status remove_if_ours() const;
  const std::string& path() const { return path_; }

 private:
  UnixSocketFile(std::string path, int pin, dev_t device, ino_t inode)
      : path_(std::move(path)), pin_(pin), device_(device), inode_(inode) {}

  std::string path_;
  int pin_ = -1;  // O_PATH descriptor of the file: keeps its inode from reuse
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace greylist
