// MilterConnectionGuard: which connections it cuts (the pure policy), and
// that it finds and cuts real accepted TCP connections of this process by
// their silence, leaving other sockets alone.
#include "milter/milter_connection_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace greylist {
namespace {

using namespace std::chrono_literals;

std::vector<MilterPeer> peers_silent_for(std::initializer_list<int> silent_ms) {
  std::vector<MilterPeer> peers;
  for (const int ms : silent_ms) peers.push_back({-1, std::chrono::milliseconds(ms)});
  return peers;
}

// A loopback listener with accepted connections, as libmilter holds them.
struct LoopbackConnections {
  int listener = -1;
  std::uint16_t port = 0;
  std::vector<int> clients;   // our ends
  std::vector<int> accepted;  // the "milter" ends

  explicit LoopbackConnections(int count) {
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(listener, 16) == 0);
    socklen_t length = sizeof address;
    REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
    for (int i = 0; i < count; ++i) {
      const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
      clients.push_back(client);
      const int server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      REQUIRE(server >= 0);
      accepted.push_back(server);
    }
  }
  ~LoopbackConnections() {
    for (const int fd : clients) close(fd);
    for (const int fd : accepted) close(fd);
    close(listener);
  }
};

// True when the daemon side shut the connection down (EOF within `wait`).
bool cut_off(int client, std::chrono::milliseconds wait) {
  pollfd p{client, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(wait.count())) != 1) return false;
  char byte = 0;
  return recv(client, &byte, 1, MSG_DONTWAIT) == 0;
}

void close_all(std::vector<MilterPeer>& peers) {
  for (const auto& peer : peers) close(peer.fd);
  peers.clear();
}

}  // namespace

TEST_SUITE("milter_connection_guard") {

TEST_CASE("the policy: every peer silent past the idle bound, then the most silent beyond the count") {
  MilterConnectionLimits limits;
  limits.idle_timeout = 10s;
  limits.max_connections = 2;
  CHECK(peers_to_cut(peers_silent_for({}), limits).empty());
  CHECK(peers_to_cut(peers_silent_for({9999, 5}), limits).empty());
  CHECK(peers_to_cut(peers_silent_for({10000, 5}), limits) == std::vector<std::size_t>{0});
  // Five peers, limit two: 3 is idle; of the other four the two most silent go.
  const auto cut = peers_to_cut(peers_silent_for({100, 900, 50, 20000, 400}), limits);
  CHECK(cut == std::vector<std::size_t>{3, 1, 4});
  limits.max_connections = 1;
  CHECK(peers_to_cut(peers_silent_for({7, 7, 7}), limits) == std::vector<std::size_t>{0, 1});
}

TEST_CASE("finds the accepted connections on its port by their silence, not the listener or others") {
  LoopbackConnections milter(3);
  LoopbackConnections other(2);
  std::this_thread::sleep_for(300ms);
  REQUIRE(send(milter.clients[1], "x", 1, 0) == 1);
  std::this_thread::sleep_for(50ms);

  auto peers = find_milter_peers(milter.port);
  REQUIRE(peers.size() == 3);
  int recent = 0;
  for (const auto& peer : peers) {
    CHECK(peer.fd >= 0);
    if (peer.silent < 200ms) ++recent;
    else CHECK(peer.silent >= 300ms);
  }
  CHECK(recent == 1);  // the one that just spoke
  close_all(peers);
  CHECK(find_milter_peers(static_cast<std::uint16_t>(0)).empty());
}

TEST_CASE("a sweep shuts down the silent connections and leaves the talking ones") {
  LoopbackConnections milter(4);
  MilterConnectionLimits limits;
  limits.idle_timeout = 1s;
  limits.max_connections = 100;
  limits.interval = 60s;  // sweeps below are explicit
  MilterConnectionGuard guard(milter.port, limits);

  CHECK(guard.sweep() == 0);
  std::this_thread::sleep_for(1100ms);
  REQUIRE(send(milter.clients[2], "x", 1, 0) == 1);
  std::this_thread::sleep_for(50ms);
  CHECK(guard.sweep() == 3);
  CHECK(cut_off(milter.clients[0], 1000ms));
  CHECK(cut_off(milter.clients[1], 1000ms));
  CHECK(cut_off(milter.clients[3], 1000ms));
  CHECK_FALSE(cut_off(milter.clients[2], 100ms));
  // The descriptors stay the owner's to close: only the connection ended.
  char byte = 0;
  CHECK(recv(milter.accepted[0], &byte, 1, MSG_DONTWAIT) == 0);
}

TEST_CASE("beyond the connection limit the most silent are cut, by the guard's own thread") {
  LoopbackConnections milter(5);
  std::this_thread::sleep_for(200ms);
  for (const int i : {3, 4}) REQUIRE(send(milter.clients[static_cast<std::size_t>(i)], "x", 1, 0) == 1);
  MilterConnectionLimits limits;
  limits.idle_timeout = 3600s;
  limits.max_connections = 2;
  limits.interval = 100ms;
  MilterConnectionGuard guard(milter.port, limits);
  for (const int i : {0, 1, 2}) CHECK(cut_off(milter.clients[static_cast<std::size_t>(i)], 2000ms));
  for (const int i : {3, 4}) CHECK_FALSE(cut_off(milter.clients[static_cast<std::size_t>(i)], 300ms));
}

}  // TEST_SUITE

}  // namespace greylist
