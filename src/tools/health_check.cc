#include "tools/health_check.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

#include "greylist/log_line.h"

namespace greylist {
namespace {

using Clock = std::chrono::steady_clock;

// Bound on what a check reads: a policy reply is one short line, a milter
// negotiation a few dozen bytes (plus macro lists).
constexpr std::size_t kMaxReplyBytes = 64 * 1024;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(int error) { return std::strerror(error); }

int remaining_ms(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

// Waits for `events` on fd until the deadline: 0, ETIMEDOUT or errno.
int wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, remaining_ms(deadline));
    if (ready > 0) return 0;
    if (ready == 0) return ETIMEDOUT;
    if (errno != EINTR) return errno;
  }
}

// Non-blocking connect to one address, finished within the deadline.
int connect_one(int fd, const sockaddr* address, socklen_t length, Clock::time_point deadline) {
  if (::connect(fd, address, length) == 0) return 0;
  if (errno != EINPROGRESS && errno != EINTR) return errno;
  if (const int waited = wait_for(fd, POLLOUT, deadline); waited != 0) return waited;
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno;
  return error;
}

// A connected socket, or the reason there is none.
std::optional<Fd> connect_to(const SocketSpec& spec, Clock::time_point deadline,
                             std::string& problem) {
  if (spec.kind == SocketSpec::Kind::kUnix) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (spec.path.size() >= sizeof address.sun_path) {
      problem = "socket path too long";
      return std::nullopt;
    }
    std::memcpy(address.sun_path, spec.path.c_str(), spec.path.size() + 1);
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
      problem = errno_text(errno);
      return std::nullopt;
    }
    const int error = connect_one(fd.get(), reinterpret_cast<const sockaddr*>(&address),
                                  sizeof address, deadline);
    if (error != 0) {
      problem = error == ETIMEDOUT ? "connect timed out" : "connect: " + errno_text(error);
      return std::nullopt;
    }
    return fd;
  }
  if (spec.kind != SocketSpec::Kind::kInet) {
    problem = "no socket";
    return std::nullopt;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(spec.port);
  if (const int rc = ::getaddrinfo(spec.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    problem = std::string("cannot resolve ") + spec.host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  problem = "no address";
  std::optional<Fd> connected;
  for (const addrinfo* a = found; a != nullptr && !connected; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd.get() < 0) {
      problem = errno_text(errno);
      continue;
    }
    const int error = connect_one(fd.get(), a->ai_addr, a->ai_addrlen, deadline);
    if (error == 0) {
      connected.emplace(std::move(fd));
    } else {
      problem = error == ETIMEDOUT ? "connect timed out" : "connect: " + errno_text(error);
      if (error == ETIMEDOUT) break;
    }
  }
  ::freeaddrinfo(found);
  return connected;
}

// Writes everything before the deadline: 0, ETIMEDOUT or errno.
int write_all(int fd, std::string_view bytes, Clock::time_point deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errno;
    if (const int waited = wait_for(fd, POLLOUT, deadline); waited != 0) return waited;
  }
  return 0;
}

// Appends what arrives to `buffer` until done(buffer) or the deadline: 0,
// ETIMEDOUT, EPIPE (closed by the peer), EMSGSIZE (over the bound) or errno.
template <typename Done>
int read_until(int fd, std::string& buffer, Clock::time_point deadline, Done&& done) {
  char chunk[4096];
  while (!done(buffer)) {
    if (buffer.size() > kMaxReplyBytes) return EMSGSIZE;
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return EPIPE;
    if (errno != EAGAIN && errno != EINTR) return errno;
    if (const int waited = wait_for(fd, POLLIN, deadline); waited != 0) return waited;
  }
  return 0;
}

std::string io_problem(const char* what, int error) {
  if (error == ETIMEDOUT) return std::string("no ") + what + " within the timeout";
  if (error == EPIPE) return std::string("connection closed before the ") + what;
  if (error == EMSGSIZE) return std::string(what) + " too long";
  return std::string(what) + ": " + errno_text(error);
}

void append_be32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((value >> shift) & 0xff);
}

std::uint32_t read_be32(std::string_view in, std::size_t offset) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(in[offset + i]);
  return value;
}

template <typename Check>
HealthResult timed(std::chrono::milliseconds timeout, Check&& check) {
  const auto started = Clock::now();
  HealthResult result = check(started + timeout);
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

}  // namespace

HealthResult check_policy(const SocketSpec& socket, std::chrono::milliseconds timeout) {
  return timed(timeout, [&](Clock::time_point deadline) {
    HealthResult result;
    std::string problem;
    auto fd = connect_to(socket, deadline, problem);
    if (!fd) {
      result.detail = problem;
      return result;
    }
    if (const int error = write_all(fd->get(), kPolicyProbe, deadline); error != 0) {
      result.detail = io_problem("request sent", error);
      return result;
    }
    std::string reply;
    const int error = read_until(fd->get(), reply, deadline, [](const std::string& buffer) {
      return buffer.find("\n\n") != std::string::npos;
    });
    if (error != 0) {
      result.detail = io_problem("reply", error);
      if (!reply.empty()) result.detail += " (got \"" + printable(reply, 80) + "\")";
      return result;
    }
    if (reply != kPolicyProbeReply) {
      result.detail = "unexpected reply \"" + printable(reply, 80) + "\"";
      return result;
    }
    result.healthy = true;
    result.detail = "action=DUNNO";
    return result;
  });
}

HealthResult check_milter(const SocketSpec& socket, std::chrono::milliseconds timeout) {
  return timed(timeout, [&](Clock::time_point deadline) {
    HealthResult result;
    std::string problem;
    auto fd = connect_to(socket, deadline, problem);
    if (!fd) {
      result.detail = problem;
      return result;
    }
    // SMFIC_OPTNEG: version 6, every action and protocol step on offer.
    std::string packet;
    append_be32(packet, 13);
    packet += 'O';
    append_be32(packet, 6);
    append_be32(packet, 0x1ff);
    append_be32(packet, 0x1fffff);
    if (const int error = write_all(fd->get(), packet, deadline); error != 0) {
      result.detail = io_problem("negotiation sent", error);
      return result;
    }
    std::string reply;
    // Complete once the announced length has arrived; a length beyond any
    // real negotiation ends the read at once (a peer speaking something else).
    const int error = read_until(fd->get(), reply, deadline, [](const std::string& buffer) {
      if (buffer.size() < 4) return false;
      const std::uint32_t announced = read_be32(buffer, 0);
      return announced > kMaxReplyBytes || buffer.size() >= 4 + std::size_t{announced};
    });
    if (error != 0) {
      result.detail = io_problem("negotiation reply", error);
      if (!reply.empty()) result.detail += " (got \"" + printable(reply, 40) + "\")";
      return result;
    }
    const std::uint32_t length = read_be32(reply, 0);
    if (length < 13 || length > kMaxReplyBytes || reply[4] != 'O') {
      result.detail = "unexpected reply \"" + printable(reply, 40) + "\" (not SMFIC_OPTNEG)";
      return result;
    }
    const std::uint32_t version = read_be32(reply, 5);
    if (version < 2 || version > 6) {
      result.detail = "unexpected milter protocol version " + std::to_string(version);
      return result;
    }
    // SMFIC_QUIT; the answer was already complete, so a failure here is
    // no reason to call the milter unhealthy.
    std::string quit;
    append_be32(quit, 1);
    quit += 'Q';
    (void)write_all(fd->get(), quit, deadline);
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%x", read_be32(reply, 9));
    result.healthy = true;
    result.detail = "negotiated version " + std::to_string(version) + ", actions " + hex;
    return result;
  });
}

}  // namespace greylist
