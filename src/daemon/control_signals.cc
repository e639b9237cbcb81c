#include "daemon/control_signals.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

namespace greylist {
namespace {

int g_write_fd = -1;  // the handler's end of the pipe

constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP};

sigset_t control_set() {
  sigset_t set;
  sigemptyset(&set);
  for (const int s : kSignals) sigaddset(&set, s);
  return set;
}

void write_byte(int value) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(value);
  // Non-blocking: with the pipe full, a pending signal of the same kind is
  // already queued for the main loop.
  if (g_write_fd >= 0) {
    [[maybe_unused]] const ssize_t n = write(g_write_fd, &byte, 1);
  }
  errno = saved;
}

extern "C" void on_control_signal(int signal_number) { write_byte(signal_number); }

}  // namespace

Result<ControlSignals> ControlSignals::block() {
  const sigset_t set = control_set();
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    return Status::IoError("cannot block signals");
  }
  signal(SIGPIPE, SIG_IGN);  // a peer that went away is an error return, not a death
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Status::IoError(std::string("cannot create the signal pipe: ") + std::strerror(errno));
  }
  g_write_fd = fds[1];
  struct sigaction action {};
  action.sa_handler = on_control_signal;
  sigemptyset(&action.sa_mask);
  // SA_NODEFER: a second signal during the handler still finds the main
  // thread unblocked (else libmilter's sigwait() thread would take it).
  action.sa_flags = SA_RESTART | SA_NODEFER;
  for (const int s : kSignals) {
    if (sigaction(s, &action, nullptr) != 0) {
      return Status::IoError(std::string("cannot install a signal handler: ") + std::strerror(errno));
    }
  }
  return ControlSignals(fds[0]);
}

ControlSignals::ControlSignals(ControlSignals&& other) noexcept : read_fd_(other.read_fd_) {
  other.read_fd_ = -1;
}

ControlSignals::~ControlSignals() {
  if (read_fd_ >= 0) close(read_fd_);
}

void ControlSignals::wake() { write_byte(kWoken); }

void ControlSignals::listen() {
  const sigset_t set = control_set();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::thread ControlSignals::start_thread(std::function<void()> body) {
  const sigset_t set = control_set();
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &set, &previous);
  std::promise<void> mask_restored;
  std::future<void> go = mask_restored.get_future();
  std::thread thread;
  try {
    thread = std::thread([go = std::move(go), body = std::move(body)]() mutable {
      go.wait();
      body();
    });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  mask_restored.set_value();
  return thread;
}

std::optional<int> ControlSignals::wait(std::optional<std::chrono::milliseconds> timeout) {
  const auto deadline =
      timeout ? std::chrono::steady_clock::now() + *timeout : std::chrono::steady_clock::time_point::max();
  for (;;) {
    unsigned char byte = 0;
    if (read(read_fd_, &byte, 1) == 1) return static_cast<int>(byte);
    int wait_ms = -1;
    if (timeout) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      wait_ms = static_cast<int>(left.count());
    }
    pollfd p{read_fd_, POLLIN, 0};
    poll(&p, 1, wait_ms);  // EINTR (a signal arrived) simply loops
  }
}

}  // namespace greylist
