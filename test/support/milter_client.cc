#include "support/milter_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace greylist::testing {
namespace {

// Protocol constants (libmilter/mfdef.h), spelled out so this client does
// not depend on libmilter's headers.
constexpr char kOptneg = 'O';
constexpr char kMacro = 'D';
constexpr char kConnect = 'C';
constexpr char kHelo = 'H';
constexpr char kMail = 'M';
constexpr char kRcpt = 'R';
constexpr char kBodyEob = 'E';
constexpr char kAbort = 'A';
constexpr char kQuit = 'Q';
constexpr char kQuitNc = 'K';
constexpr std::uint32_t kNoReplyConnect = 0x1000;  // SMFIP_NR_CONN
constexpr std::uint32_t kNoReplyHelo = 0x2000;     // SMFIP_NR_HELO
constexpr std::uint32_t kNoReplyMail = 0x4000;     // SMFIP_NR_MAIL
constexpr std::uint32_t kNoReplyRcpt = 0x8000;     // SMFIP_NR_RCPT

void put_u32(std::string& out, std::uint32_t value) {
  const std::uint32_t be = htonl(value);
  out.append(reinterpret_cast<const char*>(&be), 4);
}

std::uint32_t get_u32(std::string_view data, std::size_t at) {
  std::uint32_t be = 0;
  std::memcpy(&be, data.data() + at, 4);
  return ntohl(be);
}

void put_string(std::string& out, std::string_view text) {
  out.append(text);
  out.push_back('\0');
}

bool is_modification(char command) {
  switch (command) {
    case '+': case '-': case '2': case 'b': case 'e': case 'h': case 'i': case 'm': case 'p':
    case 'q':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<MilterClient> MilterClient::connect_tcp(const std::string& host, std::uint16_t port,
                                                      std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return std::nullopt;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      bool connected = false;
      if (errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        int error = 0;
        socklen_t length = sizeof error;
        connected = poll(&pfd, 1, static_cast<int>(timeout.count())) == 1 &&
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
      }
      if (!connected) {
        close(fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return std::nullopt;
  return MilterClient(fd);
}

MilterClient::MilterClient(MilterClient&& other) noexcept
    : fd_(other.fd_), no_reply_steps_(other.no_reply_steps_) {
  other.fd_ = -1;
}

MilterClient& MilterClient::operator=(MilterClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    no_reply_steps_ = other.no_reply_steps_;
    other.fd_ = -1;
  }
  return *this;
}

MilterClient::~MilterClient() {
  if (fd_ >= 0) close(fd_);
}

bool MilterClient::send_raw(std::string_view bytes) {
  const auto deadline = std::chrono::steady_clock::now() + kDefaultTimeout;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd_, POLLOUT, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

bool MilterClient::send(char command, std::string_view data) {
  std::string packet;
  put_u32(packet, static_cast<std::uint32_t>(data.size() + 1));
  packet.push_back(command);
  packet.append(data);
  return send_raw(packet);
}

bool MilterClient::read_exactly(char* buffer, std::size_t size,
                                std::chrono::steady_clock::time_point deadline) {
  std::size_t got = 0;
  while (got < size) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = recv(fd_, buffer + got, size - got, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<MilterReply> MilterClient::read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char header[4];
  if (!read_exactly(header, sizeof header, deadline)) return std::nullopt;
  const std::uint32_t length = get_u32(std::string_view(header, 4), 0);
  if (length < 1 || length > kMaxReplyBytes) return std::nullopt;
  std::string body(length, '\0');
  if (!read_exactly(body.data(), body.size(), deadline)) return std::nullopt;
  MilterReply reply;
  reply.command = body[0];
  reply.data = body.substr(1);
  return reply;
}

bool MilterClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;  // reset counts as closed
  }
}

std::optional<MilterNegotiation> MilterClient::negotiate(std::uint32_t version, std::uint32_t actions,
                                                         std::uint32_t protocol) {
  std::string data;
  put_u32(data, version);
  put_u32(data, actions);
  put_u32(data, protocol);
  if (!send(kOptneg, data)) return std::nullopt;
  const auto reply = read();
  if (!reply || reply->command != kOptneg || reply->data.size() < 12) return std::nullopt;
  MilterNegotiation out;
  out.version = get_u32(reply->data, 0);
  out.actions = get_u32(reply->data, 4);
  out.protocol = get_u32(reply->data, 8);
  no_reply_steps_ = out.protocol & protocol & kNoReplyBits;
  std::size_t at = 12;
  while (at + 4 < reply->data.size()) {
    const std::uint32_t where = get_u32(reply->data, at);
    at += 4;
    const auto end = reply->data.find('\0', at);
    if (end == std::string::npos) break;
    out.macro_lists[where] = reply->data.substr(at, end - at);
    at = end + 1;
  }
  return out;
}

bool MilterClient::macros(char for_command,
                          const std::vector<std::pair<std::string, std::string>>& values) {
  std::string data(1, for_command);
  for (const auto& [name, value] : values) {
    put_string(data, name);
    put_string(data, value);
  }
  return send(kMacro, data);
}

std::optional<MilterReply> MilterClient::connect(std::string_view hostname, char family,
                                                 std::uint16_t port, std::string_view address) {
  std::string data;
  put_string(data, hostname);
  data.push_back(family);
  if (family != 'U') {
    const std::uint16_t be = htons(port);
    data.append(reinterpret_cast<const char*>(&be), 2);
    put_string(data, address);
  }
  if (!send(kConnect, data)) return std::nullopt;
  return reply_unless(kNoReplyConnect);
}

std::optional<MilterReply> MilterClient::helo(std::string_view name) {
  std::string data;
  put_string(data, name);
  if (!send(kHelo, data)) return std::nullopt;
  return reply_unless(kNoReplyHelo);
}

std::optional<MilterReply> MilterClient::mail(const std::vector<std::string>& args) {
  std::string data;
  for (const auto& arg : args) put_string(data, arg);
  if (!send(kMail, data)) return std::nullopt;
  return reply_unless(kNoReplyMail);
}

std::optional<MilterReply> MilterClient::rcpt(const std::vector<std::string>& args) {
  std::string data;
  for (const auto& arg : args) put_string(data, arg);
  if (!send(kRcpt, data)) return std::nullopt;
  return reply_unless(kNoReplyRcpt);
}

std::optional<MilterReply> MilterClient::reply_unless(std::uint32_t no_reply_bit) {
  if ((no_reply_steps_ & no_reply_bit) != 0) return MilterReply{kNoReply, {}};
  return read();
}

std::vector<MilterReply> MilterClient::end_of_message(std::string_view last_body_chunk) {
  std::vector<MilterReply> replies;
  if (!send(kBodyEob, last_body_chunk)) return replies;
  // Bounded: a milter sends a handful of modifications, then one answer.
  for (int i = 0; i < 64; ++i) {
    auto reply = read();
    if (!reply) return {};
    const bool final = !is_modification(reply->command);
    replies.push_back(std::move(*reply));
    if (final) return replies;
  }
  return {};
}

bool MilterClient::abort() { return send(kAbort); }
bool MilterClient::quit() { return send(kQuit); }
bool MilterClient::quit_nc() { return send(kQuitNc); }

std::optional<MilterHeaderChange> MilterClient::header_change(const MilterReply& reply) {
  MilterHeaderChange change;
  change.command = reply.command;
  std::string_view data = reply.data;
  if (reply.command == 'i') {
    if (data.size() < 4) return std::nullopt;
    change.index = get_u32(data, 0);
    data.remove_prefix(4);
  } else if (reply.command != 'h') {
    return std::nullopt;
  }
  const auto name_end = data.find('\0');
  if (name_end == std::string_view::npos) return std::nullopt;
  change.name = std::string(data.substr(0, name_end));
  data.remove_prefix(name_end + 1);
  const auto value_end = data.find('\0');
  if (value_end == std::string_view::npos) return std::nullopt;
  change.value = std::string(data.substr(0, value_end));
  return change;
}

std::string MilterClient::reply_text(const MilterReply& reply) {
  std::string text = reply.data;
  while (!text.empty() && text.back() == '\0') text.pop_back();
  return text;
}

}  // namespace greylist::testing
