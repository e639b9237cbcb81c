// Overload and slow peers against the built daemon: 2,000 concurrent policy
// connections, the connection limit, clients that dribble, stay silent or
// send a 1 MB line, on the policy and on the milter socket. Each is cut off
// by its documented bound with a log line, and a well-behaved client's
// replies are not delayed by more than a few milliseconds meanwhile.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "support/line_client.h"
#include "support/milter_client.h"
#include "support/reliability_support.h"

using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

// "A few milliseconds": how much a misbehaving peer may add to a
// well-behaved client's 99th percentile.
constexpr double kFewMs = 5.0;

// A raw TCP connection to 127.0.0.1:port (blocking, no retries); -1 on failure.
int connect_raw(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Whether the peer has closed `fd` (EOF or reset) within `timeout`.
bool peer_closed(int fd, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return true;
  }
}

// A misbehaving peer in its own thread; `closed_after` is how long after
// connecting the daemon closed the connection (negative: it never did within
// the peer's patience).
class Peer {
 public:
  enum class Kind { kSilent, kSlowloris, kHugeLine, kMilterSilent, kMilterSlowloris, kMilterHuge };

  Peer(Kind kind, int port, Millis patience)
      : thread_([this, kind, port, patience] { run(kind, port, patience); }) {}
  ~Peer() { join(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  double closed_after_s() const { return closed_after_s_; }
  bool connected() const { return connected_; }

 private:
  void run(Kind kind, int port, Millis patience) {
    const int fd = connect_raw(port);
    if (fd < 0) return;
    connected_ = true;
    const auto started = Clock::now();
    const auto deadline = started + patience;
    bool closed = false;
    switch (kind) {
      case Kind::kSilent:
      case Kind::kMilterSilent:
        closed = peer_closed(fd, patience);
        break;
      case Kind::kSlowloris:
      case Kind::kMilterSlowloris: {
        // A policy request, or a milter packet header announcing 100 bytes,
        // one byte a second.
        const std::string bytes = kind == Kind::kSlowloris
                                      ? std::string("request=smtpd_access_policy\nsender=slow@x.test\n")
                                      : std::string("\0\0\0\x64O", 5) + std::string(100, 'x');
        for (std::size_t i = 0; i < bytes.size() && Clock::now() < deadline; ++i) {
          if (send(fd, &bytes[i], 1, MSG_NOSIGNAL) != 1 || peer_closed(fd, 1000ms)) {
            closed = true;
            break;
          }
        }
        break;
      }
      case Kind::kHugeLine:
      case Kind::kMilterHuge: {
        // 1 MB without a line end, or a milter packet announcing 1 MB.
        std::string bytes(1 << 20, 'a');
        if (kind == Kind::kMilterHuge) bytes.replace(0, 5, std::string("\0\x10\0\0O", 5));
        std::size_t sent = 0;
        while (sent < bytes.size() && Clock::now() < deadline) {
          pollfd p{fd, POLLOUT, 0};
          if (poll(&p, 1, 100) <= 0) continue;
          const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && errno != EAGAIN) break;  // reset by the daemon
          if (n > 0) sent += static_cast<std::size_t>(n);
        }
        closed = peer_closed(fd, std::chrono::duration_cast<Millis>(deadline - Clock::now()));
        break;
      }
    }
    if (closed) closed_after_s_ = std::chrono::duration<double>(Clock::now() - started).count();
    close(fd);
  }

  std::atomic<bool> connected_{false};
  std::atomic<double> closed_after_s_{-1};
  std::thread thread_;
};

// A well-behaved milter client in its own thread: RCPT after RCPT (new
// triplets) on one session, recording each reply time.
class MilterProbe {
 public:
  explicit MilterProbe(int port) : thread_([this, port] { run(port); }) {}
  ~MilterProbe() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  MilterProbe(const MilterProbe&) = delete;
  MilterProbe& operator=(const MilterProbe&) = delete;
  LatencyStats stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return summarize(samples_, failures_);
  }

 private:
  void run(int port) {
    std::optional<MilterClient> milter;
    for (std::uint64_t i = 0; !stop_; ++i) {
      if (!milter) {
        milter = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(port), 2s);
        if (!milter || !milter->negotiate() || !milter->connect("[198.51.100.7]", '4', 25, "198.51.100.7") ||
            !milter->helo("probe.test") || !milter->mail({"<probe@probe.test>"})) {
          milter.reset();
          ++failures_;
          std::this_thread::sleep_for(10ms);
          continue;
        }
      }
      const auto started = Clock::now();
      const auto reply = milter->rcpt({"<r" + letters(i) + "@probe.test>"});
      const std::chrono::duration<double, std::milli> took = Clock::now() - started;
      if (reply && reply->command == 'y') {
        samples_.push_back(took.count());
      } else {
        ++failures_;
        milter.reset();
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  std::atomic<bool> stop_{false};
  std::vector<double> samples_;
  std::size_t failures_ = 0;
  std::thread thread_;
};

LatencyStats baseline(int port, Millis duration) {
  PolicyProbe probe(port, "baseline");
  std::this_thread::sleep_for(duration);
  return probe.stop();
}

}  // namespace

TEST_SUITE("reliability_overload") {

TEST_CASE("2,000 concurrent policy connections: all served, the daemon raises its own fd limit") {
  constexpr int kConnections = 2000;
  REQUIRE_MESSAGE(raise_fd_limit(kConnections + 500) >= kConnections + 200,
                  "this test needs RLIMIT_NOFILE above " << kConnections + 200);
  DaemonProcess daemon("greylist-conns");
  {
    // The daemon starts with the usual soft limit of 1024 (systemd's
    // default): it must raise it for --policy-max-connections itself.
    ScopedSoftFdLimit low(1024);
    REQUIRE(daemon.start({"--policy-max-connections", "2500", "--threads", "4"}));
  }
  const std::uint64_t daemon_limit = proc_soft_fd_limit(daemon.pid());
  MESSAGE("figure: daemon started with soft RLIMIT_NOFILE 1024, now " << daemon_limit);
  CHECK(daemon_limit >= 2500 + 64);

  const LatencyStats before = baseline(daemon.policy_port, 2000ms);
  std::vector<std::unique_ptr<LineClient>> clients;
  clients.reserve(kConnections);
  const auto opening = Clock::now();
  for (int i = 0; i < kConnections; ++i) clients.push_back(std::make_unique<LineClient>(daemon.policy_port, 2000ms));
  const auto open_count = std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c->ok(); });
  REQUIRE(open_count == kConnections);
  // Every connection asks at once, then every reply is read.
  for (int i = 0; i < kConnections; ++i) {
    REQUIRE(clients[i]->send(policy_request("203.0.113." + std::to_string(i % 250 + 1),
                                            "c" + letters(static_cast<std::uint64_t>(i)) + "@conns.test",
                                            "rcpt@dest.test") + "\n"));
  }
  int answered = 0;
  const auto read_deadline = Clock::now() + 30s;  // for all of them together
  for (auto& client : clients) {
    const auto left = std::max(Millis(1), std::chrono::duration_cast<Millis>(read_deadline - Clock::now()));
    answered += is_greylist_reply(client->read_until("\n\n", left)) ? 1 : 0;
  }
  const std::chrono::duration<double> served = Clock::now() - opening;
  CHECK(answered == kConnections);
  // Held open, idle: the others are not slowed down.
  PolicyProbe probe(daemon.policy_port, "during");
  std::this_thread::sleep_for(2000ms);
  const LatencyStats during = probe.stop();
  MESSAGE("figure: " << kConnections << " connections opened and answered in " << served.count()
                     << " s; probe before: " << before.text() << "; with them open: " << during.text());
  CHECK(during.failures == 0);
  CHECK(during.p99_ms <= before.p99_ms + kFewMs);
  // Still all alive and answering.
  int again = 0;
  for (int i = 0; i < kConnections; i += 97) {
    again += is_greylist_reply(clients[i]->policy(policy_request(
                 "203.0.113.1", "again" + letters(static_cast<std::uint64_t>(i)) + "@conns.test",
                 "rcpt@dest.test")))
                 ? 1
                 : 0;
  }
  CHECK(again == (kConnections + 96) / 97);
  CHECK(daemon.log_since_start().find("accept failed") == std::string::npos);
}

TEST_CASE("beyond --policy-max-connections, new connections are closed at once and logged") {
  constexpr int kLimit = 50;
  DaemonProcess daemon("greylist-limit");
  REQUIRE(daemon.start({"--policy-max-connections", std::to_string(kLimit)}));
  // The readiness probe's connection may still be counted for a moment.
  std::this_thread::sleep_for(200ms);
  std::vector<std::unique_ptr<LineClient>> admitted;
  for (int i = 0; i < kLimit; ++i) {
    admitted.push_back(std::make_unique<LineClient>(daemon.policy_port));
    REQUIRE(is_greylist_reply(admitted.back()->policy(policy_request(
        "203.0.113.5", "in" + letters(static_cast<std::uint64_t>(i)) + "@limit.test", "rcpt@dest.test"))));
  }
  double slowest_refusal_ms = 0;
  int refused = 0;
  for (int i = 0; i < 20; ++i) {
    const auto started = Clock::now();
    const int fd = connect_raw(daemon.policy_port);
    REQUIRE(fd >= 0);
    if (peer_closed(fd, 2000ms)) {
      ++refused;
      slowest_refusal_ms = std::max(
          slowest_refusal_ms, std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    }
    close(fd);
  }
  MESSAGE("figure: connections over the limit of " << kLimit << ": " << refused
                                                   << " of 20 closed, slowest after "
                                                   << slowest_refusal_ms << " ms");
  CHECK(refused == 20);
  CHECK(slowest_refusal_ms < 500);
  CHECK(daemon.log_shows(" refused: " + std::to_string(kLimit) + " connections open (max " +
                         std::to_string(kLimit) + ")"));
  // Rate-limited: far fewer lines than refusals.
  CHECK(count_of(daemon.log_since_start(), " refused: ") <= 2);
  // Those admitted are served as before, and a slot freed is usable.
  CHECK(is_greylist_reply(admitted.front()->policy(
      policy_request("203.0.113.5", "still@limit.test", "rcpt@dest.test"))));
  admitted.pop_back();
  std::this_thread::sleep_for(200ms);
  LineClient late(daemon.policy_port);
  CHECK(is_greylist_reply(late.policy(policy_request("203.0.113.5", "late@limit.test", "rcpt@dest.test"))));
}

TEST_CASE("policy peers that are silent, dribble a byte a second or send a 1 MB line are cut off "
          "by their bound, with a log line, without slowing a well-behaved client") {
  constexpr int kIdle = 2;  // --policy-idle-timeout, seconds
  constexpr int kEach = 20;
  REQUIRE(raise_fd_limit(1024) >= 512);
  DaemonProcess daemon("greylist-slow");
  REQUIRE(daemon.start({"--policy-idle-timeout", std::to_string(kIdle)}));
  const LatencyStats before = baseline(daemon.policy_port, 2000ms);
  MESSAGE("figure: probe alone: " << before.text());

  struct Scenario {
    std::string name;
    Peer::Kind kind;
    double min_s;  // bounds of when the daemon must close the connection
    double max_s;
    const char* log_text;
  };
  const Scenario scenarios[] = {
      {"silent", Peer::Kind::kSilent, kIdle - 0.5, kIdle + 1.5,
       "s (--policy-idle-timeout), closing the connection"},
      {"one byte a second", Peer::Kind::kSlowloris, kIdle - 0.5, kIdle + 1.5,
       "s (--policy-idle-timeout), closing the connection"},
      {"1 MB line", Peer::Kind::kHugeLine, 0, 1.5, "line longer than 4096 bytes; closing the connection"},
  };
  for (const Scenario& scenario : scenarios) {
    CAPTURE(scenario.name);
    const std::string log_before = daemon.log_since_start();
    const auto started = Clock::now();
    PolicyProbe probe(daemon.policy_port, "slow");
    std::vector<std::unique_ptr<Peer>> peers;
    for (int i = 0; i < kEach; ++i) {
      peers.push_back(std::make_unique<Peer>(scenario.kind, daemon.policy_port, 10000ms));
    }
    double slowest = 0;
    double fastest = 1e9;
    for (auto& peer : peers) {
      peer->join();
      CHECK(peer->connected());
      slowest = std::max(slowest, peer->closed_after_s());
      fastest = std::min(fastest, peer->closed_after_s());
    }
    // At least as long a sample as the baseline's.
    std::this_thread::sleep_until(started + 2000ms);
    const LatencyStats during = probe.stop();
    MESSAGE("figure: " << kEach << " policy peers, " << scenario.name << ": closed after "
                       << fastest << " to " << slowest << " s; probe meanwhile: " << during.text());
    CHECK(fastest >= scenario.min_s);
    CHECK(slowest <= scenario.max_s);
    CHECK(during.failures == 0);
    CHECK(during.p99_ms <= before.p99_ms + kFewMs);
    const std::string lines = daemon.log_since_start().substr(log_before.size());
    const std::size_t logged = count_of(lines, scenario.log_text);
    CHECK(logged >= 1);
    CHECK(logged <= kEach);
  }
}

TEST_CASE("milter peers: a 1 MB packet is cut off at once, silent ones after --milter-idle-timeout; "
          "dribbling ones are held; well-behaved clients are not slowed") {
  REQUIRE(raise_fd_limit(1024) >= 512);
  DaemonProcess daemon("greylist-milter-slow");
  daemon.milter_port = free_loopback_port();
  // The guard looks every 2 s: a silent peer goes after 2 to 4 s.
  REQUIRE(daemon.start({"--milter-idle-timeout", "2"}));
  LatencyStats policy_before;
  LatencyStats milter_before;
  {
    MilterProbe milter_alone(daemon.milter_port);
    policy_before = baseline(daemon.policy_port, 3000ms);
    milter_before = milter_alone.stop();
  }
  MESSAGE("figure: probes alone: policy " << policy_before.text() << "; milter " << milter_before.text());

  constexpr int kEach = 10;
  constexpr auto kPatience = 10000ms;
  MilterProbe milter_probe(daemon.milter_port);
  PolicyProbe policy_probe(daemon.policy_port, "milterslow");
  std::vector<std::unique_ptr<Peer>> silent;
  std::vector<std::unique_ptr<Peer>> dribbling;
  std::vector<std::unique_ptr<Peer>> huge;
  for (int i = 0; i < kEach; ++i) {
    silent.push_back(std::make_unique<Peer>(Peer::Kind::kMilterSilent, daemon.milter_port, kPatience));
    dribbling.push_back(std::make_unique<Peer>(Peer::Kind::kMilterSlowloris, daemon.milter_port, kPatience));
    huge.push_back(std::make_unique<Peer>(Peer::Kind::kMilterHuge, daemon.milter_port, kPatience));
  }
  const auto slowest = [](std::vector<std::unique_ptr<Peer>>& peers) {
    double worst = 0;
    for (auto& peer : peers) {
      peer->join();
      worst = peer->closed_after_s() < 0 ? -1 : std::max(worst, peer->closed_after_s());
      if (worst < 0) break;
    }
    for (auto& peer : peers) peer->join();
    return worst;
  };
  const double huge_closed = slowest(huge);
  const double silent_closed = slowest(silent);
  const double dribbling_closed = slowest(dribbling);
  const LatencyStats milter_during = milter_probe.stop();
  const LatencyStats policy_during = policy_probe.stop();
  const auto describe = [](double closed) {
    return closed < 0 ? std::string("still open after 10 s") : "closed after " + std::to_string(closed) + " s";
  };
  MESSAGE("figure: " << kEach << " milter peers each: 1 MB packet " << describe(huge_closed)
                     << "; silent " << describe(silent_closed) << "; one byte a second "
                     << describe(dribbling_closed));
  MESSAGE("figure: meanwhile: policy " << policy_during.text() << "; milter " << milter_during.text());
  CHECK(huge_closed >= 0);
  CHECK(huge_closed < 1.5);
  CHECK(silent_closed >= 1.9);
  CHECK(silent_closed < 6.0);
  // A byte a second is activity to the kernel: held until the peer gives up.
  CHECK(dribbling_closed < 0);
  const std::string lines = daemon.log_since_start();
  CHECK(count_of(lines, "milter: cut off ") >= 1);
  CHECK(count_of(lines, "milter: cut off ") <= 2);  // at most one line per 10 s
  CHECK(lines.find("(--milter-idle-timeout)") != std::string::npos);
  CHECK(milter_during.failures == 0);
  CHECK(policy_during.failures == 0);
  CHECK(milter_during.p99_ms <= milter_before.p99_ms + kFewMs);
  CHECK(policy_during.p99_ms <= policy_before.p99_ms + kFewMs);
}

}  // TEST_SUITE
