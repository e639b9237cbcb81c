// noop-policy: the smallest correct Postfix policy server, as a ceiling for
// the benchmarks ("the limit"): it parses each request (name=value lines up
// to an empty line, bounded like the daemon's parser) and answers
// "action=DUNNO". No database, no logging.
//
// One epoll loop per thread, each with its own SO_REUSEPORT listening
// socket on the same port, so the kernel spreads connections over threads
// with no shared state and no locks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxRequest = 65536;
constexpr std::size_t kMaxAttributes = 256;
constexpr std::string_view kReply = "action=DUNNO\n\n";

std::atomic<bool> g_stop{false};

struct Conn {
  int fd = -1;
  std::string in;
  std::size_t scanned = 0;     // bytes of `in` already split into lines
  std::size_t attributes = 0;  // in the current request
  bool has_request = false;    // saw a request= attribute
};

// Consumes the complete lines in c.in; appends one reply per finished
// request to `out`. False when the peer broke a bound (close it).
bool consume(Conn& c, std::string& out) {
  std::size_t start = c.scanned;
  for (;;) {
    const std::size_t nl = c.in.find('\n', start);
    if (nl == std::string::npos) {
      if (c.in.size() - start > kMaxLine) return false;
      break;
    }
    std::string_view line(c.in.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) return false;
    start = nl + 1;
    if (line.empty()) {
      // Postfix always sends request=; answer DUNNO either way, as the
      // daemon does for an unknown request type.
      out.append(kReply);
      c.attributes = 0;
      c.has_request = false;
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;  // garbage line: ignored
    if (++c.attributes > kMaxAttributes) return false;
    if (line.substr(0, eq) == "request") c.has_request = true;
  }
  c.in.erase(0, start);
  c.scanned = 0;
  return c.in.size() <= kMaxRequest;
}

int listen_on(const std::string& host, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4096) != 0) {
    std::perror("noop-policy: bind/listen");
    std::exit(1);
  }
  return fd;
}

void serve(int listener) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &lev);
  std::vector<epoll_event> events(512);
  char buf[16384];
  std::string out;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 200);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c == nullptr) {
        for (;;) {
          const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          const int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* conn = new Conn;
          conn->fd = fd;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.ptr = conn;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      bool alive = true;
      out.clear();
      for (;;) {
        const ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          c->in.append(buf, static_cast<std::size_t>(r));
          if (static_cast<std::size_t>(r) < sizeof buf) break;
        } else {
          if (r == 0 || errno != EAGAIN) alive = false;
          break;
        }
      }
      if (alive) alive = consume(*c, out);
      // Replies are tiny: one write fits the socket buffer of a client that
      // waits for each reply before sending again.
      if (alive && !out.empty() && write(c->fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
        alive = false;
      }
      if (!alive) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, nullptr);
        close(c->fd);
        delete c;  // its events in this batch were already handled: one event per fd per wait
      }
    }
  }
  close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv, {{"host", "127.0.0.1"}, {"port", "0"}, {"threads", "2"}},
                     "usage: noop-policy --port N [--host 127.0.0.1] [--threads 2]\n");
  const std::string host = flags.str("host");
  const int port = static_cast<int>(flags.integer("port", 1, 65535));
  const int threads = static_cast<int>(flags.integer("threads", 1, 64));
  signal(SIGPIPE, SIG_IGN);
  bench::raise_fd_limit();
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  std::vector<int> listeners;
  for (int t = 0; t < threads; ++t) listeners.push_back(listen_on(host, port));
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(serve, listeners[static_cast<std::size_t>(t)]);
  serve(listeners[0]);
  for (auto& w : workers) w.join();
  return 0;
}
