// StderrCapture: where log() writes (stderr) redirected to a temporary file
// while the object lives, for tests that check what was logged. The
// messages are read back without their "ident[pid]: " prefix. One at a time
// per process; not thread-safe (log() itself may be called from any thread
// while it lives).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace greylist::testing {

class StderrCapture {
 public:
  StderrCapture() {
    char path[] = "/tmp/greylist-test-log-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    path_ = path;
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::remove(path_.c_str());
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::vector<std::string> messages() const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      const auto colon = line.find(": ");
      out.push_back(colon == std::string::npos ? line : line.substr(colon + 2));
    }
    return out;
  }

  // How many messages contain `text`.
  long count(const std::string& text) const {
    const auto lines = messages();
    return std::count_if(lines.begin(), lines.end(),
                         [&text](const std::string& line) { return line.find(text) != std::string::npos; });
  }

 private:
  std::string path_;
  int saved_ = -1;
};

}  // namespace greylist::testing
