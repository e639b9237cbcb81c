#include "dns/ares_worker.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "dns/dns_servers.h"

namespace greylist {
namespace {

std::once_flag g_library_once;
int g_library_status = ARES_SUCCESS;

// A channel on `servers`, each query tried twice with half of `timeout`.
Result<ares_channel> open_ares_channel(const std::vector<std::string>& servers,
                                       std::chrono::milliseconds timeout) {
  std::call_once(g_library_once, [] { g_library_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (g_library_status != ARES_SUCCESS) {
    return Status::Unavailable(std::string("c-ares: ") + ares_strerror(g_library_status));
  }
  std::vector<DnsServer> parsed;
  for (const std::string& spec : servers) {
    auto server = parse_dns_server(spec);
    if (!server.ok()) return server.status();
    parsed.push_back(server.value());
  }
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<long long>(timeout.count() / 2, 20));
  opts.tries = 2;
  ares_channel channel = nullptr;
  int status = ares_init_options(&channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (status == ARES_SUCCESS && !parsed.empty()) {
    status = ares_set_servers_ports_csv(channel, dns_servers_csv(parsed).c_str());
  }
  if (status != ARES_SUCCESS) {
    if (channel != nullptr) ares_destroy(channel);
    return Status::Unavailable(std::string("c-ares: cannot start: ") + ares_strerror(status));
  }
  return channel;
}

// The servers `channel` asks, in dns_servers_csv()'s form.
std::string channel_servers(ares_channel channel) {
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel, &list) != ARES_SUCCESS) return "unknown servers";
  std::vector<DnsServer> servers;
  for (const ares_addr_port_node* node = list; node != nullptr; node = node->next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(node->family, &node->addr, text, sizeof text) == nullptr) continue;
    // Port 0: c-ares' default, 53.
    servers.push_back(DnsServer{text, node->family == AF_INET6, node->udp_port != 0 ? node->udp_port : 53});
  }
  ares_free_data(list);
  return servers.empty() ? std::string("none") : dns_servers_csv(servers);
}

// Waits in poll() on the channel's sockets and `wake_fd` (drained when
// readable) until something happens, c-ares has a timeout due, or
// `max_wait_ms` passed; then lets c-ares read, write and retry.
void wait_for_ares_events(ares_channel channel, int wake_fd, long long max_wait_ms) {
  ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
  const int mask = ares_getsock(channel, sockets, ARES_GETSOCK_MAXNUM);
  std::vector<pollfd> fds{{wake_fd, POLLIN, 0}};
  for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
    short events = 0;
    if (ARES_GETSOCK_READABLE(mask, i)) events |= POLLIN;
    if (ARES_GETSOCK_WRITABLE(mask, i)) events |= POLLOUT;
    if (events != 0) fds.push_back({sockets[i], events, 0});
  }
  timeval max{1, 0};
  timeval tv{};
  const timeval* next = ares_timeout(channel, &max, &tv);
  const long long ares_ms = next->tv_sec * 1000LL + next->tv_usec / 1000;
  const long long wait_ms = std::max<long long>(std::min(ares_ms, max_wait_ms), 1);
  poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
  if ((fds[0].revents & POLLIN) != 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(wake_fd, &count, sizeof count);
  }
  bool any = false;
  for (std::size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].revents == 0) continue;
    any = true;
    const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
    const bool writable = (fds[i].revents & POLLOUT) != 0;
    ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                    writable ? fds[i].fd : ARES_SOCKET_BAD);
  }
  if (!any) ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
}

}  // namespace

AresWorker::~AresWorker() {
  join();
  if (channel_ != nullptr) ares_destroy(channel_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status AresWorker::start(const std::vector<std::string>& servers, std::chrono::milliseconds timeout,
                         Hooks hooks) {
  hooks_ = std::move(hooks);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return Status::Unavailable("eventfd failed");
  auto channel = open_ares_channel(servers, timeout);
  if (!channel.ok()) return channel.status();
  channel_ = channel.value();
  servers_ = channel_servers(channel_);
  thread_ = std::thread([this] { loop(); });
  return Status::Ok();
}

void AresWorker::wake() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
}

void AresWorker::join() {
  if (thread_.joinable()) thread_.join();
}

void AresWorker::loop() {
  for (;;) {
    wait_for_ares_events(channel_, wake_fd_, hooks_.next_deadline_ms());
    if (hooks_.start_queued()) break;
    hooks_.expire();
  }
  ares_cancel(channel_);  // callbacks with ARES_ECANCELLED
  hooks_.drain();
}

}  // namespace greylist
