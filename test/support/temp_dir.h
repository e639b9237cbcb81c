// TempDir: the scratch directory of every test suite.
//
// A fresh directory PREFIX-XXXXXX in the system's temporary directory,
// removed with everything in it by the destructor. It is the product's
// greylist::TempDir (src/util/temp_dir.h), so there is one implementation,
// with two differences a test needs: the directory is mode 0755 (the daemon,
// once it has dropped to its service user, and Postfix's daemons must reach
// what a test puts inside), and failing to make it throws
// std::runtime_error (doctest reports it as a failed test case).
#pragma once

#include <string>

#include "util/temp_dir.h"

namespace greylist::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  TempDir(TempDir&&) noexcept = default;
  TempDir& operator=(TempDir&&) noexcept = default;

  const std::string& path() const { return dir_.path(); }
  // path() + "/" + name.
  std::string file(const std::string& name) const { return path() + "/" + name; }
  // When the environment variable `variable` is set (not empty, not "0"), the
  // directory is kept and its path printed on stderr; otherwise nothing.
  void keep_if(const char* variable);

 private:
  greylist::TempDir dir_;
};

}  // namespace greylist::testing
