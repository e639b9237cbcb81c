// Faults around the running daemon: the database's file system full or
// read-only, and a restart while clients keep asking. Requests are answered
// by --on-error meanwhile, the log says so without flooding, and service
// resumes by itself. (Whitelist garbage + SIGHUP: daemon_process_test.cc.)
#include <signal.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "support/line_client.h"
#include "support/milter_client.h"
#include "support/reliability_support.h"

using namespace greylist::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kOwnTriplets{"--auto-whitelist-clients=0",
                                            "--auto-whitelist-domains=0", "--pool-by-domain=no",
                                            // unnamed clients: one delay for all
                                            "--dynamic-delay=0"};
const std::string kStoreWarning = "greylist store failed, answering by --on-error";

std::uint64_t free_bytes(const std::string& path) {
  struct statvfs fs {};
  if (statvfs(path.c_str(), &fs) != 0) return 0;
  return std::uint64_t{fs.f_bavail} * fs.f_frsize;
}

// Writes a file of `bytes` zeros (as root, inside the daemon's 0700
// directory); false if the file system refused part of it.
bool write_filler(const std::string& path, std::uint64_t bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return false;
  const std::string block(64 * 1024, '\0');
  bool ok = true;
  while (bytes > 0 && ok) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes, block.size()));
    ok = std::fwrite(block.data(), 1, n, file) == n;
    bytes -= n;
  }
  ok = std::fclose(file) == 0 && ok;
  return ok;
}

// New triplets, one request after another, until `failed_in_a_row`
// consecutive ones are answered by --on-error (or a bound is reached).
struct Fill {
  long greylisted = 0;
  long on_error = 0;  // answered by --on-error
  long other = 0;
  double seconds = 0;
};

Fill fill_until_failing(LineClient& client, const std::string& tag, bool tempfail,
                        long failed_in_a_row, long max_requests, Millis max_time) {
  Fill fill;
  long in_a_row = 0;
  const auto started = Clock::now();
  for (long i = 0; i < max_requests && in_a_row < failed_in_a_row && Clock::now() - started < max_time;
       ++i) {
    const auto reply = client.policy(policy_request(
        "203.0.113." + std::to_string(i % 250 + 1), tag + letters(static_cast<std::uint64_t>(i)) + "@fill.test",
        "rcpt@dest.test"));
    if (is_greylist_reply(reply)) {
      ++fill.greylisted;
      in_a_row = 0;
    } else if (tempfail ? is_tempfail_reply(reply) : is_dunno_reply(reply)) {
      ++fill.on_error;
      ++in_a_row;
    } else {
      ++fill.other;
      in_a_row = 0;
    }
  }
  fill.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return fill;
}

// Asks new triplets until one is greylisted again (bounded); seconds it took,
// or a negative number if service did not come back within `patience`.
double seconds_until_greylisting(LineClient& client, const std::string& tag, Millis patience) {
  const auto started = Clock::now();
  for (std::uint64_t i = 0; Clock::now() - started < patience; ++i) {
    if (is_greylist_reply(client.policy(
            policy_request("203.0.113.200", tag + letters(i) + "@resume.test", "rcpt@dest.test")))) {
      return std::chrono::duration<double>(Clock::now() - started).count();
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

// Triplets greylisted before a fault; after the delay they must pass.
void greylist_before(LineClient& client, int count) {
  for (int i = 0; i < count; ++i) {
    REQUIRE(is_greylist_reply(client.policy(policy_request(
        "198.51.100.9", "kept" + letters(static_cast<std::uint64_t>(i)) + "@fault.test", "rcpt@dest.test"))));
  }
}
int passing_after(LineClient& client, int count) {
  int passed = 0;
  for (int i = 0; i < count; ++i) {
    passed += prepended_delay(client.policy(policy_request(
                  "198.51.100.9", "kept" + letters(static_cast<std::uint64_t>(i)) + "@fault.test",
                  "rcpt@dest.test")))
                  ? 1
                  : 0;
  }
  return passed;
}

}  // namespace

TEST_SUITE("reliability_faults") {

TEST_CASE("disk full: answered by --on-error, one warning per 10 s, service back by itself when "
          "space returns, files intact") {
  if (geteuid() != 0) {
    MESSAGE("not root: no tmpfs can be mounted; disk-full test skipped");
    return;
  }
  struct Variant {
    std::string name;
    std::string size;    // of the tmpfs mounted as --dbdir
    bool tempfail;       // --on-error tempfail
  };
  // 2 MB: too small for region files, the environment stays in memory. 160 MB:
  // room for the region files at start, then another file fills the disk.
  const Variant variants[] = {{"2 MB tmpfs, --on-error accept", "2m", false},
                              {"2 MB tmpfs, --on-error tempfail", "2m", true},
                              {"160 MB tmpfs filled while running (region files)", "160m", false}};
  for (const Variant& variant : variants) {
    CAPTURE(variant.name);
    DaemonProcess daemon("greylist-diskfull");
    daemon.base_options = kOwnTriplets;
    daemon.base_options.insert(daemon.base_options.end(), {"--delay", "1"});
    if (variant.tempfail) daemon.base_options.insert(daemon.base_options.end(), {"--on-error", "tempfail"});
    TmpfsMount mount(daemon.dbdir, variant.size);
    if (!mount.ok()) {
      MESSAGE(mount.error() << ": disk-full test skipped");
      return;
    }
    REQUIRE_MESSAGE(daemon.start(), daemon.log_since_start());
    LineClient client(daemon.policy_port);
    REQUIRE(client.ok());
    greylist_before(client, 20);
    // Another process fills the disk, leaving a few pages.
    const std::string filler = daemon.dbdir + "/filler";
    const std::uint64_t room = free_bytes(daemon.dbdir);
    if (room > 256 * 1024) write_filler(filler, room - 256 * 1024);

    const Fill fill = fill_until_failing(client, "full", variant.tempfail, 200, 400000, 60000ms);
    const std::string log = daemon.log_since_start();
    const std::size_t warnings = count_of(log, kStoreWarning);
    const std::size_t diagnostics = count_of(log, "berkeley db: ");
    MESSAGE("figure: disk full (" << variant.name << "): " << fill.greylisted
                                  << " greylisted until full, then " << fill.on_error
                                  << " answered by --on-error in " << fill.seconds << " s; "
                                  << warnings << " store warnings, " << diagnostics
                                  << " Berkeley DB lines logged");
    CHECK(fill.on_error >= 200);
    CHECK(fill.other == 0);
    REQUIRE(daemon.running());
    CHECK_FALSE(daemon.wait_for_exit(0ms));  // no SIGBUS, no exit
    // Rate-limited: one warning per 10 s, a burst of Berkeley DB lines.
    CHECK(warnings >= 1);
    CHECK(warnings <= static_cast<std::size_t>(fill.seconds / 10) + 2);
    CHECK(diagnostics <= 20 + 2 * static_cast<std::size_t>(fill.seconds + 1) + 20);

    // Space returns: greylisting resumes without a restart.
    fs::remove(filler);
    const double resumed = seconds_until_greylisting(client, "back", 30000ms);
    MESSAGE("figure: disk full (" << variant.name << "): greylisting again " << resumed
                                  << " s after the space returned");
    CHECK(resumed >= 0);
    CHECK(passing_after(client, 20) == 20);  // what was stored before is intact
    const auto stopped = daemon.stop(10s);
    REQUIRE(stopped);
    CHECK(WIFEXITED(*stopped));
    CHECK(verify_database_copy(daemon.dbdir).empty());
  }
}

TEST_CASE("disk full past two watchdog intervals: WATCHDOG=1 keeps coming, service back without "
          "a restart") {
  // Issue 15: the watchdog was fed only while the store answered, so
  // systemd killed a daemon that was rightly answering by --on-error, and
  // the restart's recovery on the still-full disk failed.
  if (geteuid() != 0) {
    MESSAGE("not root: no tmpfs can be mounted; watchdog disk-full test skipped");
    return;
  }
  DaemonProcess daemon("greylist-watchdog-full");
  daemon.base_options = kOwnTriplets;
  daemon.base_options.insert(daemon.base_options.end(), {"--delay", "1"});
  TmpfsMount mount(daemon.dbdir, "2m");
  if (!mount.ok()) {
    MESSAGE(mount.error() << ": watchdog disk-full test skipped");
    return;
  }
  // A datagram socket playing systemd's notification socket.
  const std::string notify_path = daemon.dir + "/notify.sock";
  const int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(notify >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(bind(notify, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  chmod(notify_path.c_str(), 0666);  // written to after the drop to the service user
  constexpr auto kWatchdog = 400ms;  // WatchdogSec; the daemon pings at half of it
  setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
  setenv("WATCHDOG_USEC", std::to_string(kWatchdog.count() * 1000).c_str(), 1);
  const bool started = daemon.start();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  REQUIRE_MESSAGE(started, daemon.log_since_start());
  const pid_t pid = daemon.pid();
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  greylist_before(client, 10);

  const std::string filler = daemon.dbdir + "/filler";
  const std::uint64_t room = free_bytes(daemon.dbdir);
  if (room > 256 * 1024) write_filler(filler, room - 256 * 1024);
  const Fill fill = fill_until_failing(client, "wdfull", false, 50, 400000, 60000ms);
  REQUIRE(fill.on_error >= 50);
  // Keep-alives counted over four watchdog intervals of a full disk, while
  // requests are still answered by --on-error.
  const auto count_keepalives = [&](Millis span) {
    int count = 0;
    const auto until = Clock::now() + span;
    while (Clock::now() < until) {
      pollfd p{notify, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[512];
      const ssize_t n = recv(notify, buffer, sizeof buffer, 0);
      if (n > 0 && std::string(buffer, static_cast<std::size_t>(n)).find("WATCHDOG=1") !=
                       std::string::npos) {
        ++count;
      }
    }
    return count;
  };
  count_keepalives(100ms);  // what was queued before
  const int keepalives = count_keepalives(4 * kWatchdog);
  CHECK(is_dunno_reply(client.policy(policy_request("203.0.113.9", "still@full.test", "rcpt@dest.test"))));
  MESSAGE("figure: " << keepalives << " WATCHDOG=1 in " << 4 * kWatchdog.count()
                     << " ms of a full disk");
  CHECK(keepalives >= 4);

  fs::remove(filler);
  CHECK(seconds_until_greylisting(client, "wdback", 30000ms) >= 0);
  CHECK(passing_after(client, 10) == 10);
  CHECK(daemon.pid() == pid);  // never restarted
  CHECK(daemon.stop(10s));
  close(notify);
}

TEST_CASE("database directory made read-only while running: --on-error, then service back by "
          "itself once writable, files intact") {
  if (geteuid() != 0) {
    MESSAGE("not root: the daemon keeps root's rights, chmod would not bind it; skipped");
    return;
  }
  DaemonProcess daemon("greylist-readonly");
  daemon.base_options = kOwnTriplets;
  daemon.base_options.insert(daemon.base_options.end(), {"--delay", "1"});
  REQUIRE(daemon.start());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  greylist_before(client, 20);
  // The files stay writable; no new file (the next log file) can be made.
  REQUIRE(chmod(daemon.dbdir.c_str(), 0500) == 0);
  const Fill fill = fill_until_failing(client, "readonly", false, 200, 400000, 60000ms);
  std::this_thread::sleep_for(2000ms);
  const std::string log = daemon.log_since_start();
  MESSAGE("figure: read-only directory: " << fill.greylisted << " greylisted until the next log "
                                          << "file was needed, then " << fill.on_error
                                          << " answered by --on-error; " << count_of(log, kStoreWarning)
                                          << " store warnings");
  CHECK(fill.on_error >= 200);
  CHECK(daemon.log_shows("the environment failed"));
  CHECK(count_of(log, kStoreWarning) <= static_cast<std::size_t>(fill.seconds / 10) + 2);
  REQUIRE(chmod(daemon.dbdir.c_str(), 0700) == 0);
  const double resumed = seconds_until_greylisting(client, "writable", 60000ms);
  MESSAGE("figure: read-only directory: greylisting again " << resumed
                                                            << " s after it was writable again");
  CHECK(resumed >= 0);
  CHECK(daemon.log_shows("reopened the environment with recovery; serving again"));
  CHECK(passing_after(client, 20) == 20);
  REQUIRE(daemon.stop(10s));
  CHECK(verify_database_copy(daemon.dbdir).empty());
}

TEST_CASE("restart: the new daemon answers on the same sockets long before Postfix's timeouts") {
  // Postfix's defaults: smtpd_policy_service_timeout 100 s (a policy request
  // waits that long before it is deferred), milter_connect_timeout 30 s.
  const long prefill = env_number("GREYLIST_SOAK_RESTART_TRIPLETS", 20000);
  DaemonProcess daemon("greylist-restart");
  daemon.milter_port = free_loopback_port();
  daemon.base_options = kOwnTriplets;
  REQUIRE(daemon.start());
  {
    LineClient client(daemon.policy_port);
    for (long i = 0; i < prefill; ++i) {
      REQUIRE(is_greylist_reply(client.policy(policy_request(
          "203.0.113." + std::to_string(i % 250 + 1),
          "pre" + letters(static_cast<std::uint64_t>(i)) + "@restart.test", "rcpt@dest.test"))));
    }
  }
  for (const bool kill_first : {false, true}) {
    CAPTURE(kill_first);
    // A client that keeps asking, as Postfix's smtpd would, reconnecting
    // after each failure: the longest wait for an answer is what it sees.
    std::atomic<bool> stop{false};
    std::atomic<double> longest_gap_s{0};
    std::atomic<long> answered{0};
    std::thread asker([&] {
      std::unique_ptr<LineClient> client;
      auto last_answer = Clock::now();
      for (std::uint64_t i = 0; !stop; ++i) {
        if (!client || !client->ok()) client = std::make_unique<LineClient>(daemon.policy_port, 0ms);
        const auto reply = client->ok() ? client->policy(policy_request(
                                              "192.0.2.50", "ask" + letters(i) + "@restart.test",
                                              "rcpt@dest.test"))
                                        : std::nullopt;
        if (reply) {
          const auto now = Clock::now();
          longest_gap_s = std::max(longest_gap_s.load(),
                                   std::chrono::duration<double>(now - last_answer).count());
          last_answer = now;
          ++answered;
        } else {
          client.reset();
          std::this_thread::sleep_for(5ms);
        }
      }
    });
    std::this_thread::sleep_for(300ms);
    const auto signalled = Clock::now();
    if (kill_first) {
      daemon.kill9();
    } else {
      const auto status = daemon.stop(10s);
      REQUIRE(status);
      CHECK(WIFEXITED(*status));
    }
    const double stopped_s = std::chrono::duration<double>(Clock::now() - signalled).count();
    REQUIRE(daemon.start({}, 30s));
    const double serving_s = std::chrono::duration<double>(Clock::now() - signalled).count();
    // The milter answers a negotiation on the same port.
    auto milter = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(daemon.milter_port));
    CHECK((milter && milter->negotiate()));
    const double milter_s = std::chrono::duration<double>(Clock::now() - signalled).count();
    std::this_thread::sleep_for(300ms);
    stop = true;
    asker.join();
    MESSAGE("figure: restart by " << (kill_first ? "SIGKILL" : "SIGTERM") << " with " << prefill
                                  << " triplets: old process gone after " << stopped_s
                                  << " s, new one answering policy after " << serving_s
                                  << " s, milter after " << milter_s
                                  << " s; longest wait seen by a client " << longest_gap_s.load() << " s");
    CHECK(answered > 0);
    CHECK(serving_s < 10);
    CHECK(milter_s < 10);
    CHECK(longest_gap_s < 10);  // against 100 s (policy) and 30 s (milter connect)
  }
}

}  // TEST_SUITE
