// UnixSocketFile: a stale socket file replaced, a live one (even one whose
// backlog is full) or another kind of file refused, and the removal at exit
// only of the file we created.
#include "util/unix_socket_file.h"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <vector>

#include "support/temp_dir.h"

using namespace greylist;

namespace {

// A unix stream socket bound to `path`; listening when `backlog` >= 0.
int bound_socket(const std::string& path, int backlog) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  if (backlog >= 0) REQUIRE(listen(fd, backlog) == 0);
  return fd;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_SUITE("unix_socket_file") {

TEST_CASE("clear_stale: nothing there, a stale socket removed; a file or a live socket refused") {
  const testing::TempDir scratch("unix-socket-file");
  const std::string path = scratch.path() + "/x.sock";
  CHECK(UnixSocketFile::clear_stale(path, "unix:" + path).ok());

  close(bound_socket(path, -1));  // a crashed daemon's: bound, nobody listening
  CHECK(UnixSocketFile::clear_stale(path, "unix:" + path).ok());
  CHECK_FALSE(exists(path));

  const int live = bound_socket(path, 8);
  const Status refused = UnixSocketFile::clear_stale(path, "unix:" + path);
  CHECK(refused.message() == "cannot listen on unix:" + path +
                                 ": another process serves it (another greylist-milter running?)");
  CHECK(exists(path));
  close(live);
  unlink(path.c_str());

  { std::ofstream(path) << "data"; }
  const Status file = UnixSocketFile::clear_stale(path, "unix:" + path);
  CHECK(file.message() == "cannot listen on unix:" + path + ": the path exists and is not a socket");
  CHECK(exists(path));
}

TEST_CASE("clear_stale: a live listener whose backlog is full is refused at once") {
  const testing::TempDir scratch("unix-socket-file");
  const std::string path = scratch.path() + "/x.sock";
  const int busy = bound_socket(path, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  std::vector<int> pending;
  for (int i = 0; i < 64; ++i) {  // fill the backlog: nobody accepts
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    pending.push_back(fd);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) break;
  }
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(UnixSocketFile::clear_stale(path, "unix:" + path).ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  for (const int fd : pending) close(fd);
  close(busy);
}

TEST_CASE("remove_if_ours: removes the file it saw created, not one put in its place") {
  const testing::TempDir scratch("unix-socket-file");
  const std::string path = scratch.path() + "/x.sock";
  close(bound_socket(path, 8));
  const auto ours = UnixSocketFile::created(path);
  REQUIRE(ours);
  CHECK(ours->remove_if_ours().ok());
  CHECK_FALSE(exists(path));
  CHECK(ours->remove_if_ours().ok());  // gone already: nothing to do

  // Ours closed and its file replaced by a newer instance's: the inode
  // created() holds cannot be the new file's.
  close(bound_socket(path, 8));
  const auto first = UnixSocketFile::created(path);
  REQUIRE(first);
  unlink(path.c_str());
  close(bound_socket(path, 8));
  CHECK(first->remove_if_ours().ok());
  CHECK(exists(path));
  CHECK_FALSE(UnixSocketFile::created(scratch.path() + "/none"));
}

}  // TEST_SUITE
