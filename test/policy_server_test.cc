// PolicyServer in-process over loopback TCP, IPv6 and unix sockets: many
// connections, bounds, idle timeout, connection limit, stop(), and the
// golden transcripts in test/golden/policy (see the README there).
#include "policy/policy_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "store/memory_store.h"
#include "support/child_process.h"
#include "support/fake_clock.h"
#include "support/file_text.h"
#include "support/forwarding_store.h"
#include "support/line_client.h"
#include "support/loopback_policy_server.h"
#include "support/temp_dir.h"

using namespace greylist;
using greylist::testing::FakeClock;
using greylist::testing::LineClient;
using greylist::testing::PolicyServerThread;
using namespace std::chrono_literals;

namespace {

constexpr EpochSeconds kStart = 1'795'590'188;  // Wed, 25 Nov 2026 07:03:08 UTC

const std::string kGreylisted =
    "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/example.org.html\n\n";
const std::string kDunno = "action=DUNNO\n\n";

std::string rcpt(const std::string& sender, const std::string& recipient = "b@example.org",
                 const std::string& client = "192.0.2.7") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=mail.example.test\nsender=" + sender + "\nrecipient=" + recipient +
         "\ninstance=" + sender + "\n";
}

SocketSpec loopback(const std::string& host = "127.0.0.1") {
  SocketSpec spec;
  spec.kind = SocketSpec::Kind::kInet;
  spec.host = host;
  spec.port = 0;  // parse_socket_spec refuses 0; the server binds an ephemeral port
  return spec;
}

PolicySettings test_settings() {
  PolicySettings s;
  s.sockets = {loopback()};
  s.common.hostname = "test.host";
  s.threads = 2;
  return s;
}

int port_of(const std::string& address) {
  return std::stoi(address.substr(address.rfind(':') + 1));
}

// A Store whose updates take `delay`: a request stays in flight that long.
class SlowStore final : public greylist::testing::ForwardingStore {
 public:
  explicit SlowStore(Store& inner) : ForwardingStore(inner) {}
  std::chrono::milliseconds delay{0};
  std::atomic<int> updates_started{0};
  Status update(Table t, std::string_view k, const UpdateFunction& fn) override {
    ++updates_started;
    std::this_thread::sleep_for(delay);
    return ForwardingStore::update(t, k, fn);
  }
  const char* name() const override { return "slow"; }
};

// Waits for a thread running PolicyServer::run(). One that does not return
// cannot be abandoned (it uses objects on this stack), so the suite stops
// loudly instead of hanging.
// Waits for run() to return; a hang aborts the suite (a server left running
// would use objects the test is destroying).
void join_or_abort(std::future<void>& finished, std::chrono::milliseconds limit) {
  if (finished.wait_for(limit) == std::future_status::ready) return;
  std::fprintf(stderr, "policy_server_test: run() did not return within %lld ms\n",
               static_cast<long long>(limit.count()));
  std::abort();
}

// The transcripts' clients have no verified name: one delay (--delay) for
// every client, so they test the protocol, not --dynamic-delay.
GreylistConfig one_delay_config() {
  GreylistConfig config;
  config.dynamic_delay = 0;
  return config;
}

std::unique_ptr<PolicyServer> open_or_fail(PolicySettings settings, const Greylister& greylister,
                                           const Clock& clock) {
  auto opened = PolicyServer::open(std::move(settings), greylister, clock);
  if (!opened.ok()) FAIL("open: " << opened.status().message());
  return std::move(opened).value();
}

// A PolicyServer (test_settings(), or the test's) on a store whose updates
// take a while, serving on its own thread.
struct RunningServer {
  MemoryStore memory;
  SlowStore slow{memory};
  FakeClock clock{kStart};
  Greylister greylister{one_delay_config(), slow, clock};
  PolicyServerThread running;

  explicit RunningServer(PolicySettings settings = test_settings())
      : running(open_or_fail(std::move(settings), greylister, clock)) {}
  PolicyServer* operator->() const { return &running.server(); }
  int port(std::size_t i = 0) const { return running.port(i); }
  std::optional<std::chrono::milliseconds> stop_and_time(std::chrono::milliseconds limit) {
    return running.stop_and_time(limit);
  }
};

bool ipv6_loopback_available() {
  const int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// --- raw client for transcripts and floods ----------------------------------

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all of `bytes` within `timeout`; false if the peer went away or
  // stopped reading.
  bool send_all(std::string_view bytes, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!bytes.empty()) {
      if (!wait_for(POLLOUT, deadline)) return false;
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void finish_sending() { ::shutdown(fd_, SHUT_WR); }

  // Appends what arrives to `received` until `done(received)` or the peer
  // closes or `timeout`. True if done() became true.
  template <typename Done>
  bool receive(std::string& received, Done done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(received)) {
      if (!wait_for(POLLIN, deadline)) return false;
      char chunk[8192];
      const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        peer_closed_ = true;
        return done(received);
      }
      received.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads everything until the peer closes (true) or `timeout` (false).
  bool receive_to_end(std::string& received, std::chrono::milliseconds timeout = 5s) {
    receive(received, [](const std::string&) { return false; }, timeout);
    return peer_closed_;
  }

 private:
  bool wait_for(short events, std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    return poll(&p, 1, static_cast<int>(left.count())) > 0;
  }

  int fd_ = -1;
  bool peer_closed_ = false;
};

std::size_t count_replies(const std::string& text) {
  std::size_t n = 0;
  for (auto at = text.find("\n\n"); at != std::string::npos; at = text.find("\n\n", at + 2)) ++n;
  return n;
}

// --- golden transcripts -------------------------------------------------------

using greylist::testing::read_file;

struct Segment {
  std::string bytes;          // sent as they are
  EpochSeconds advance = 0;   // then the clock moves on this much (not after the last)
};

// Splits a .in file at its "#advance N" lines (see test/golden/policy/README).
std::vector<Segment> split_transcript(const std::string& input) {
  std::vector<Segment> segments(1);
  std::size_t at = 0;
  while (at < input.size()) {
    auto end = input.find('\n', at);
    end = end == std::string::npos ? input.size() : end + 1;
    const std::string_view line(input.data() + at, end - at);
    if (line.rfind("#advance ", 0) == 0) {
      segments.back().advance = std::stoll(std::string(line.substr(9)));
      segments.emplace_back();
    } else {
      segments.back().bytes.append(line);
    }
    at = end;
  }
  return segments;
}

// Requests a segment holds = its empty lines ("\n" or "\r\n").
std::size_t count_requests(const std::string& bytes) {
  std::size_t n = 0;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != '\n') continue;
    const std::size_t length = i - line_start;
    if (length == 0 || (length == 1 && bytes[line_start] == '\r')) ++n;
    line_start = i + 1;
  }
  return n;
}

std::string substitute(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// Runs one transcript against a fresh server with `rules` (none when
// empty); returns what came back.
std::string run_transcript(const std::string& input, const std::string& rules = {}) {
  RunningServer server;
  if (!rules.empty()) {
    auto parsed = RuleSet::parse(rules, "rules");
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
    server.greylister.set_rules(parsed.value());
  }
  RawClient client(server.port());
  REQUIRE(client.ok());
  const std::vector<Segment> segments = split_transcript(input);
  std::string received;
  std::size_t expected = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    if (!client.send_all(segments[i].bytes)) break;  // closed by the server: a bound
    if (last) break;
    expected += count_requests(segments[i].bytes);
    const bool all = client.receive(
        received, [&](const std::string& r) { return count_replies(r) >= expected; });
    if (!all) break;
    server.clock.advance(segments[i].advance);
  }
  client.finish_sending();
  CHECK(client.receive_to_end(received));
  return received;
}

// TZ=UTC for the header dates of the transcripts; restored afterwards.
class UtcZone {
 public:
  UtcZone() {
    if (const char* tz = std::getenv("TZ")) saved_ = tz;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ~UtcZone() {
    if (saved_) {
      setenv("TZ", saved_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> saved_;
};

}  // namespace

TEST_SUITE("policy_server") {

TEST_CASE("golden transcripts: every test/golden/policy/*.in gives its .ref byte for byte") {
  const std::filesystem::path dir = std::filesystem::path(SOURCE_ROOT) / "test/golden/policy";
  REQUIRE(std::filesystem::is_directory(dir));
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".in") inputs.push_back(entry.path());
  }
  std::sort(inputs.begin(), inputs.end());
  CHECK(inputs.size() >= 10);
  UtcZone utc;
  for (const auto& in : inputs) {
    const std::string name = in.stem().string();
    CAPTURE(name);
    auto ref_path = in;
    ref_path.replace_extension(".ref");
    REQUIRE(std::filesystem::exists(ref_path));
    const std::string expected = substitute(read_file(ref_path), "@VERSION@", GREYLIST_VERSION);
    auto rules_path = in;
    rules_path.replace_extension(".rules");
    const std::string rules = std::filesystem::exists(rules_path) ? read_file(rules_path) : "";
    const std::string actual = run_transcript(read_file(in), rules);
    CHECK(actual == expected);
  }
}

TEST_CASE("the transcript splitter honours #advance lines only at a line start") {
  const auto segments = split_transcript("a=1\n\n#advance 301\nb=#advance 5\n\n#advance 7\n");
  REQUIRE(segments.size() == 3);
  CHECK(segments[0].bytes == "a=1\n\n");
  CHECK(segments[0].advance == 301);
  CHECK(segments[1].bytes == "b=#advance 5\n\n");
  CHECK(segments[1].advance == 7);
  CHECK(segments[2].bytes.empty());
  CHECK(count_requests("a=1\r\n\r\nb=2\n\n\n") == 3);
}

TEST_CASE("several concurrent connections are each answered, in order") {
  RunningServer server;
  constexpr int kClients = 8;
  constexpr int kRequests = 25;
  std::vector<std::unique_ptr<LineClient>> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<LineClient>(server.port()));
    REQUIRE(clients.back()->ok());
  }
  std::vector<std::future<int>> results;
  for (int c = 0; c < kClients; ++c) {
    results.push_back(std::async(std::launch::async, [&, c] {
      int good = 0;
      for (int r = 0; r < kRequests; ++r) {
        // A distinct recipient domain per request shows which reply is whose.
        const std::string domain = "c" + std::to_string(c) + "r" + std::to_string(r) + ".test";
        const auto reply = clients[static_cast<std::size_t>(c)]->policy(rcpt("s@x.test", "u@" + domain));
        if (reply == "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/" +
                         domain + ".html\n\n") {
          ++good;
        }
      }
      return good;
    }));
  }
  for (auto& result : results) {
    REQUIRE(result.wait_for(30s) == std::future_status::ready);
    CHECK(result.get() == kRequests);
  }
  CHECK(server.memory.count(Table::kTriplets).value() == kClients * kRequests);
}

TEST_CASE("pipelined requests in one write are answered in order") {
  RunningServer server;
  RawClient client(server.port());
  REQUIRE(client.ok());
  std::string batch;
  for (int i = 0; i < 50; ++i) batch += rcpt("s@x.test", "u@d" + std::to_string(i) + ".test") + "\n";
  REQUIRE(client.send_all(batch));
  std::string received;
  REQUIRE(client.receive(received, [](const std::string& r) { return count_replies(r) >= 50; }));
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    expected += "action=DEFER_IF_PERMIT Greylisted, see http://postgrey.schweikert.ch/help/d" +
                std::to_string(i) + ".test.html\n\n";
  }
  CHECK(received == expected);
}

TEST_CASE("a connection breaking a bound is closed; another keeps being answered") {
  RunningServer server;
  LineClient good(server.port());
  REQUIRE(good.ok());
  CHECK(good.policy(rcpt("a@x.test")) == kGreylisted);

  RawClient bad(server.port());
  REQUIRE(bad.ok());
  REQUIRE(bad.send_all(rcpt("b@x.test") + "\n"));  // one good request first
  std::string received;
  REQUIRE(bad.receive(received, [](const std::string& r) { return count_replies(r) >= 1; }));
  CHECK(received == kGreylisted);
  // 1 MB without a newline: the server gives up after max_line_bytes.
  bad.send_all(std::string(1 << 20, 'x'), 3s);  // may fail half-way: the server closed
  CHECK(bad.receive_to_end(received, 5s));
  CHECK(received == kGreylisted);  // nothing more was answered

  CHECK(good.policy(rcpt("c@x.test")) == kGreylisted);
  LineClient fresh(server.port());
  CHECK(fresh.policy(rcpt("d@x.test")) == kGreylisted);
}

TEST_CASE("too many attributes or bytes in a request close the connection") {
  RunningServer server;
  {
    RawClient client(server.port());
    std::string flood;
    for (int i = 0; i < 10000; ++i) flood += "a" + std::to_string(i) + "=v\n";
    client.send_all(flood, 3s);
    std::string received;
    CHECK(client.receive_to_end(received, 5s));
    CHECK(received.empty());
  }
  LineClient after(server.port());
  CHECK(after.policy(rcpt("a@x.test")) == kGreylisted);
}

TEST_CASE("an idle connection is closed after idle_timeout; an active one is not") {
  PolicySettings settings = test_settings();
  settings.idle_timeout = 1s;
  RunningServer server(settings);
  LineClient idle(server.port());
  REQUIRE(idle.ok());
  LineClient active(server.port());
  REQUIRE(active.ok());
  const auto start = std::chrono::steady_clock::now();
  // The active client sends a request every 300 ms for 1.8 s.
  for (int i = 0; i < 6; ++i) {
    CHECK(active.policy(rcpt("s" + std::to_string(i) + "@x.test")) == kGreylisted);
    std::this_thread::sleep_for(300ms);
  }
  CHECK(idle.closed_by_peer(3s));
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= 900ms);
  CHECK(active.policy(rcpt("last@x.test")) == kGreylisted);
}

TEST_CASE("a client that sends a request slowly, byte by byte, is cut at the idle timeout") {
  PolicySettings settings = test_settings();
  settings.idle_timeout = 1s;
  RunningServer server(settings);
  RawClient slow(server.port());
  REQUIRE(slow.ok());
  const std::string request = rcpt("a@x.test") + "\n";
  bool closed = false;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    if (!slow.send_all(request.substr(i, 1), 1s)) closed = true;
    std::string ignored;
    if (slow.receive_to_end(ignored, 100ms)) closed = true;
  }
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("max_connections: one more is accepted and closed at once; a slot frees on close") {
  PolicySettings settings = test_settings();
  settings.max_connections = 2;
  RunningServer server(settings);
  auto first = std::make_unique<LineClient>(server.port());
  LineClient second(server.port());
  CHECK(first->policy(rcpt("a@x.test")) == kGreylisted);
  CHECK(second.policy(rcpt("b@x.test")) == kGreylisted);
  {
    LineClient third(server.port());
    REQUIRE(third.ok());
    CHECK(third.closed_by_peer(3s));
  }
  first.reset();
  // The slot is freed asynchronously: retry a bounded number of times.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    LineClient again(server.port());
    served = again.policy(rcpt("c@x.test")) == kGreylisted;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  CHECK(served);
  CHECK(second.policy(rcpt("d@x.test")) == kGreylisted);
}

TEST_CASE("an IPv6 listener on ::1 (v6-only) serves IPv6 clients") {
  if (!ipv6_loopback_available()) {
    MESSAGE("::1 is not available here: IPv6 listener test skipped");
    return;
  }
  PolicySettings settings = test_settings();
  settings.sockets = {loopback("::1")};
  RunningServer server(settings);
  REQUIRE(server->bound_addresses().size() == 1);
  CHECK(server->bound_addresses()[0].rfind("inet:[::1]:", 0) == 0);
  LineClient client(server.port(), 5s, /*ipv6=*/true);
  REQUIRE(client.ok());
  CHECK(client.policy(rcpt("a@x.test", "b@example.org", "2001:db8::7")) == kGreylisted);
  // v6-only: the same port on 127.0.0.1 is not this listener.
  LineClient v4(server.port(), 200ms);
  CHECK_FALSE(v4.policy(rcpt("a@x.test")).has_value());
}

TEST_CASE("a host name is resolved at open: localhost") {
  PolicySettings settings = test_settings();
  settings.sockets = {loopback("localhost")};
  RunningServer server(settings);
  const auto addresses = server->bound_addresses();
  REQUIRE_FALSE(addresses.empty());
  const auto v4 = std::find_if(addresses.begin(), addresses.end(), [](const std::string& a) {
    return a.rfind("inet:127.0.0.1:", 0) == 0;
  });
  REQUIRE(v4 != addresses.end());
  LineClient client(port_of(*v4));
  CHECK(client.policy(rcpt("a@x.test")) == kGreylisted);
}

TEST_CASE("a unix socket gets socket_mode, goes with the server; a stale one is replaced, anything else refused") {
  const greylist::testing::TempDir scratch("policy-unix");
  const std::string& dir = scratch.path();
  const std::string path = dir + "/policy.sock";
  SocketSpec spec;
  spec.kind = SocketSpec::Kind::kUnix;
  spec.path = path;
  PolicySettings settings = test_settings();
  settings.sockets = {spec};
  settings.socket_mode = 0660;

  {  // A stale socket left by a dead process.
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    close(fd);
  }
  {
    RunningServer server(settings);
    struct stat st {};
    REQUIRE(lstat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0660);
    CHECK(server->bound_addresses() == std::vector<std::string>{"unix:" + path});
    LineClient client(path);
    REQUIRE(client.ok());
    CHECK(client.policy(rcpt("a@x.test")) == kGreylisted);

    // While it serves, a second server must not steal the socket.
    MemoryStore store;
    FakeClock clock;
    Greylister greylister(GreylistConfig{}, store, clock);
    auto second = PolicyServer::open(settings, greylister, clock);
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().message().find(path) != std::string::npos);
    CHECK(client.policy(rcpt("b@x.test")) == kGreylisted);
  }

  CHECK_FALSE(std::filesystem::exists(path));  // removed with the server
  { std::ofstream(path) << "not a socket"; }
  MemoryStore store;
  FakeClock clock;
  Greylister greylister(GreylistConfig{}, store, clock);
  auto refused = PolicyServer::open(settings, greylister, clock);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("unix:" + path) != std::string::npos);
  CHECK(refused.status().message().find("not a socket") != std::string::npos);
  CHECK(read_file(path) == "not a socket");
}

TEST_CASE("open errors name the socket and the reason") {
  RunningServer first;
  MemoryStore store;
  FakeClock clock;
  Greylister greylister(GreylistConfig{}, store, clock);

  PolicySettings busy = test_settings();
  busy.sockets[0].port = static_cast<std::uint16_t>(first.port());
  auto opened = PolicyServer::open(busy, greylister, clock);
  REQUIRE_FALSE(opened.ok());
  const std::string name = "inet:127.0.0.1:" + std::to_string(first.port());
  CHECK(opened.status().message().find(name) != std::string::npos);
  CHECK(opened.status().message().find("in use") != std::string::npos);

  PolicySettings unknown = test_settings();
  unknown.sockets[0].host = "no-such-host.invalid";
  unknown.sockets[0].port = 10023;
  opened = PolicyServer::open(unknown, greylister, clock);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().message().find("no-such-host.invalid") != std::string::npos);

  PolicySettings not_local = test_settings();
  not_local.sockets[0].host = "192.0.2.1";  // TEST-NET: not an address of this host
  opened = PolicyServer::open(not_local, greylister, clock);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().message().find("inet:192.0.2.1:0") != std::string::npos);
}

TEST_CASE("stop() returns within 2 s with a connected idle client, and closes it") {
  RunningServer server;
  LineClient client(server.port());
  CHECK(client.policy(rcpt("a@x.test")) == kGreylisted);
  const auto took = server.stop_and_time(2s);
  REQUIRE(took.has_value());
  CHECK(*took < 2s);
  CHECK(client.closed_by_peer(1s));
  LineClient late(server.port(), 100ms);
  CHECK_FALSE(late.policy(rcpt("b@x.test")).has_value());
}

TEST_CASE("stop() with nothing connected, stop() twice, stop() before run()") {
  {
    RunningServer server;
    const auto took = server.stop_and_time(2s);
    REQUIRE(took.has_value());
    server->stop();
  }
  MemoryStore store;
  FakeClock clock;
  Greylister greylister(GreylistConfig{}, store, clock);
  auto opened = PolicyServer::open(test_settings(), greylister, clock);
  REQUIRE(opened.ok());
  opened.value()->stop();
  auto run = std::async(std::launch::async, [&] { opened.value()->run(); });
  CHECK(run.wait_for(2s) == std::future_status::ready);
  join_or_abort(run, 10s);
}

TEST_CASE("stop() lets a request in flight be answered before closing") {
  RunningServer server;
  server.slow.delay = 600ms;
  RawClient client(server.port());
  REQUIRE(client.ok());
  REQUIRE(client.send_all(rcpt("a@x.test") + "\n"));
  // Wait (bounded) until the decision has started, then stop.
  for (int i = 0; i < 200 && server.slow.updates_started.load() == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(server.slow.updates_started.load() > 0);
  const auto took = server.stop_and_time(2s);
  REQUIRE(took.has_value());
  std::string received;
  CHECK(client.receive_to_end(received, 2s));
  CHECK(received == kGreylisted);
}

TEST_CASE("stop() gives up on a client that does not read its replies after drain_timeout") {
  PolicySettings settings = test_settings();
  settings.drain_timeout = 300ms;
  RunningServer server(settings);
  RawClient client(server.port());
  REQUIRE(client.ok());
  // Empty requests, each answered "action=DUNNO": the replies fill the
  // socket buffers and the server's write blocks.
  const std::string flood(256 * 1024, '\n');
  for (int i = 0; i < 64; ++i) {
    if (!client.send_all(flood, 200ms)) break;
  }
  const auto took = server.stop_and_time(2s);
  REQUIRE(took.has_value());
  CHECK(*took < 2s);
}

}  // TEST_SUITE
