#include "daemon/background.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace greylist {
namespace {

int g_report_fd = -1;  // write end of the pipe to the waiting parent

Status os_error(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The parent's side: wait for the daemon's word, then exit.
[[noreturn]] void wait_for_daemon(int read_fd) {
  std::string message;
  char buffer[512];
  for (;;) {
    const ssize_t n = read(read_fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buffer, static_cast<std::size_t>(n));
  }
  if (message == "ok") _exit(0);
  if (message.empty()) message = "the daemon exited during start-up";
  std::fprintf(stderr, "greylist-milter: %s\n", message.c_str());
  _exit(1);
}

}  // namespace

Status detach(bool keep_stderr) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return os_error("pipe");
  const pid_t first = fork();
  if (first < 0) return os_error("fork");
  if (first > 0) {
    close(fds[1]);
    int status = 0;
    waitpid(first, &status, 0);  // the intermediate child exits at once
    wait_for_daemon(fds[0]);
  }
  close(fds[0]);
  if (setsid() < 0) return os_error("setsid");
  const pid_t second = fork();  // not a session leader: can never get a terminal
  if (second < 0) return os_error("fork");
  if (second > 0) _exit(0);
  g_report_fd = fds[1];
  umask(0077);
  if (chdir("/") != 0) return os_error("chdir /");
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return os_error("open /dev/null");
  dup2(null, 0);
  dup2(null, 1);
  if (!keep_stderr) dup2(null, 2);
  close(null);
  return Status::Ok();
}

void report_started() {
  if (g_report_fd < 0) return;
  write_all(g_report_fd, "ok");
  close(g_report_fd);
  g_report_fd = -1;
}

void report_failed(const std::string& message) {
  if (g_report_fd < 0) return;
  write_all(g_report_fd, message.empty() ? "start-up failed" : message);
  close(g_report_fd);
  g_report_fd = -1;
}

Result<PidFile> PidFile::create(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return os_error("cannot open pid file " + path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buffer[32] = {};
    const ssize_t n = pread(fd, buffer, sizeof buffer - 1, 0);
    close(fd);
    const std::string pid = n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "?";
    return Status::Unavailable("already running: " + path + " is locked by pid " +
                               pid.substr(0, pid.find('\n')));
  }
  // Not locked: free, or left behind by a killed process. Take it over.
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) !=
                                   static_cast<ssize_t>(pid.size())) {
    const Status failed = os_error("cannot write pid file " + path);
    close(fd);
    return failed;
  }
  return PidFile(path, fd);
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

PidFile::~PidFile() {
  if (fd_ < 0) return;
  unlink(path_.c_str());  // may fail once privileges are dropped: the lock says it is stale
  close(fd_);
}

}  // namespace greylist
