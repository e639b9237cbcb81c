// TempDir: a private scratch directory that is removed with its contents.
//
// create() makes a fresh directory PREFIX-XXXXXX (mkdtemp, mode 0700) in
// the system's temporary directory ($TMPDIR when set, else /tmp). The
// destructor removes it and everything in it, ignoring errors; release()
// gives up that ownership and leaves the directory in place. Move-only; not
// thread-safe (one owner).
#pragma once

#include <string>

#include "greylist/status.h"

namespace greylist {

class TempDir {
 public:
  // The new directory, or IoError naming what could not be created and why.
  static Result<TempDir> create(const std::string& prefix);

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  // The absolute path of the directory ("" once released or moved from).
  const std::string& path() const { return path_; }
  // Stops owning the directory (it is no longer removed); returns its path.
  std::string release();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  void remove();

  std::string path_;
};

}  // namespace greylist
