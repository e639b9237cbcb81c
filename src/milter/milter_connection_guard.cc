#include "milter/milter_connection_guard.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "util/log.h"

namespace greylist {
namespace {

int socket_option(int fd, int option) {
  int value = -1;
  socklen_t length = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0) return -1;
  return value;
}

std::optional<std::uint16_t> local_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return std::nullopt;
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  }
  return std::nullopt;
}

// An accepted TCP connection on `port`: its silence, or nullopt.
std::optional<std::chrono::milliseconds> silence_if_milter_peer(int fd, std::uint16_t port) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
  const int domain = socket_option(fd, SO_DOMAIN);
  if (domain != AF_INET && domain != AF_INET6) return std::nullopt;
  if (socket_option(fd, SO_PROTOCOL) != IPPROTO_TCP) return std::nullopt;
  if (socket_option(fd, SO_ACCEPTCONN) != 0) return std::nullopt;  // the listener
  if (local_port(fd) != port) return std::nullopt;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  return std::chrono::milliseconds(info.tcpi_last_data_recv);
}

}  // namespace

std::vector<std::size_t> peers_to_cut(const std::vector<MilterPeer>& peers,
                                      const MilterConnectionLimits& limits) {
  std::vector<std::size_t> cut;
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    (peers[i].silent >= limits.idle_timeout ? cut : kept).push_back(i);
  }
  if (kept.size() > limits.max_connections) {
    // The most silent first: a busy Postfix session is the last to go.
    std::stable_sort(kept.begin(), kept.end(), [&](std::size_t a, std::size_t b) {
      return peers[a].silent > peers[b].silent;
    });
    const std::size_t excess = kept.size() - limits.max_connections;
    cut.insert(cut.end(), kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(excess));
  }
  return cut;
}

std::vector<MilterPeer> find_milter_peers(std::uint16_t port) {
  std::vector<MilterPeer> peers;
  DIR* listing = opendir("/proc/self/fd");
  if (listing == nullptr) return peers;
  const int listing_fd = dirfd(listing);
  while (const dirent* entry = readdir(listing)) {
    char* end = nullptr;
    const long number = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || number < 0 || number == listing_fd) continue;
    // A dup first: every check below is then about one socket, even if the
    // number is closed and reused meanwhile.
    const int fd = fcntl(static_cast<int>(number), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) continue;
    if (const auto silent = silence_if_milter_peer(fd, port)) {
      peers.push_back({fd, *silent});
    } else {
      close(fd);
    }
  }
  closedir(listing);
  return peers;
}

// Sums cut-offs and logs them at most once per kLogInterval.
class MilterConnectionGuard::CutLog {
 public:
  explicit CutLog(std::string why) : why_(std::move(why)) {}
  void add(std::size_t count) {
    if (count == 0) return;
    pending_ += count;
    const auto now = std::chrono::steady_clock::now();
    if (logged_once_ && now - last_ < kLogInterval) return;
    log_warning("milter: cut off " + std::to_string(pending_) + " connection" +
                (pending_ == 1 ? "" : "s") + " " + why_);
    pending_ = 0;
    last_ = now;
    logged_once_ = true;
  }

 private:
  static constexpr std::chrono::seconds kLogInterval{10};
  const std::string why_;
  std::size_t pending_ = 0;
  std::chrono::steady_clock::time_point last_{};
  bool logged_once_ = false;
};

MilterConnectionGuard::MilterConnectionGuard(std::uint16_t port, MilterConnectionLimits limits)
    : port_(port),
      limits_(limits),
      idle_log_(std::make_unique<CutLog>("silent for " + std::to_string(limits.idle_timeout.count()) +
                                         " s or more (--milter-idle-timeout)")),
      excess_log_(std::make_unique<CutLog>("beyond --milter-max-connections " +
                                           std::to_string(limits.max_connections) +
                                           " (the most silent ones)")),
      thread_([this] { run(); }) {}

MilterConnectionGuard::~MilterConnectionGuard() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::size_t MilterConnectionGuard::sweep() {
  std::lock_guard lock(sweep_mutex_);
  std::vector<MilterPeer> peers = find_milter_peers(port_);
  const std::vector<std::size_t> cut = peers_to_cut(peers, limits_);
  std::size_t idle = 0;
  for (const std::size_t i : cut) {
    shutdown(peers[i].fd, SHUT_RDWR);
    if (peers[i].silent >= limits_.idle_timeout) ++idle;
  }
  for (const auto& peer : peers) close(peer.fd);
  idle_log_->add(idle);
  excess_log_->add(cut.size() - idle);
  return cut.size();
}

void MilterConnectionGuard::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_for(lock, limits_.interval, [this] { return stopping_; })) break;
    lock.unlock();
    sweep();
    lock.lock();
  }
}

}  // namespace greylist
