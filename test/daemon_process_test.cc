// The built greylist-milter executable as an admin runs it: options, start,
// the policy protocol over TCP, SIGKILL and restart on the same database,
// SIGTERM. GREYLIST_MILTER_BINARY is the path meson gives.
#include <signal.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "support/child_process.h"
#include "support/line_client.h"

using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

std::string triplet_request(const std::string& sender, const std::string& recipient,
                            const std::string& client = "203.0.113.7") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=mail.foo.test\nsender=" + sender + "\nrecipient=" + recipient +
         "\ninstance=" + sender + recipient + "\n";
}

struct Daemon {
  std::string dir = make_temp_dir("greylist-process");
  int port = free_loopback_port();
  std::unique_ptr<ChildProcess> process;

  ~Daemon() {
    process.reset();
    remove_tree(dir);
  }
  void start(int delay, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{GREYLIST_MILTER_BINARY, "--policy",
                                  "inet:127.0.0.1:" + std::to_string(port), "--milter", "none",
                                  "--dbdir", dir + "/db", "--log", "stderr", "--hostname",
                                  "test.host", "--delay", std::to_string(delay),
                                  "--whitelist-clients", dir + "/clients",
                                  "--whitelist-recipients", dir + "/recipients"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<ChildProcess>(argv, dir + "/daemon.log");
  }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(dir + "/" + name + ".new") << content;
    std::rename((dir + "/" + name + ".new").c_str(), (dir + "/" + name).c_str());
  }
  // Waits (bounded) until the log holds `text`.
  bool log_shows(const std::string& text, std::chrono::milliseconds timeout = 5s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (process->output().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
};

bool is_greylist(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT Greylisted, see ", 0) == 0;
}
bool is_prepend(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=PREPEND X-Greylist: delayed ", 0) == 0;
}

}  // namespace

TEST_SUITE("daemon_process") {

TEST_CASE("--version and --help exit 0; a bad option exits 2 with one line naming it") {
  std::string out;
  int status = run_program({GREYLIST_MILTER_BINARY, "--version"}, out, 5s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out.rfind("greylist-milter ", 0) == 0);
  status = run_program({GREYLIST_MILTER_BINARY, "--help"}, out, 5s);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out.find("--greylist-text") != std::string::npos);
  status = run_program({GREYLIST_MILTER_BINARY, "--delay", "soon"}, out, 5s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(out.find("--delay") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  status = run_program({GREYLIST_MILTER_BINARY, "--bogus"}, out, 5s);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(out.find("bogus") != std::string::npos);
}

TEST_CASE("a database directory that cannot be used is fatal, naming it") {
  const std::string dir = make_temp_dir("greylist-baddb");
  { std::ofstream(dir + "/not-a-dir") << "x"; }
  std::string out;
  const int status = run_program({GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" +
                                  std::to_string(free_loopback_port()), "--milter", "none",
                                  "--dbdir", dir + "/not-a-dir", "--log", "stderr"}, out, 10s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find(dir + "/not-a-dir") != std::string::npos);
  remove_tree(dir);
}

TEST_CASE("a port in use is fatal, naming the socket") {
  Daemon first;
  first.start(300);
  LineClient probe(first.port);
  REQUIRE(probe.ok());
  std::string out;
  const std::string dir = make_temp_dir("greylist-port");
  const int status = run_program({GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" +
                                  std::to_string(first.port), "--milter", "none",
                                  "--dbdir", dir, "--log", "stderr"}, out, 10s);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find(std::to_string(first.port)) != std::string::npos);
  remove_tree(dir);
}

TEST_CASE("greylist, SIGKILL, restart: every answered triplet survives with its first-seen time") {
  Daemon daemon;
  daemon.start(3);
  constexpr int kTriplets = 100;
  {
    LineClient client(daemon.port);
    REQUIRE(client.ok());
    for (int i = 0; i < kTriplets; ++i) {
      const auto reply = client.policy(triplet_request("s" + std::to_string(i) + "@foo.test", "r@bar.test"));
      REQUIRE(is_greylist(reply));
    }
    // Killed right after the last answer, with no chance to flush or close.
    daemon.process->signal(SIGKILL);
    REQUIRE(daemon.process->wait_for_exit(5s));
  }
  const auto first_seen = std::chrono::steady_clock::now();
  daemon.start(3);
  LineClient client(daemon.port, 10s);
  REQUIRE(client.ok());
  std::this_thread::sleep_until(first_seen + 3500ms);  // past the delay, counted from before the kill
  int passed = 0;
  for (int i = 0; i < kTriplets; ++i) {
    const auto reply = client.policy(triplet_request("s" + std::to_string(i) + "@foo.test", "r@bar.test"));
    passed += is_prepend(reply) ? 1 : 0;
  }
  CHECK(passed == kTriplets);
  // And the header text is the documented one.
  const auto again = client.policy(triplet_request("late@foo.test", "r@bar.test"));
  CHECK(is_greylist(again));
  CHECK(daemon.process->output().find("action=greylist, reason=new, client_name=mail.foo.test, "
                                      "client_address=203.0.113.7, sender=late@foo.test, "
                                      "recipient=r@bar.test") != std::string::npos);
}

TEST_CASE("SIGTERM with an idle client connected: clean exit within 2 s") {
  Daemon daemon;
  daemon.start(300);
  LineClient client(daemon.port);
  REQUIRE(client.ok());
  REQUIRE(is_greylist(client.policy(triplet_request("a@foo.test", "b@bar.test"))));
  const auto start = std::chrono::steady_clock::now();
  daemon.process->signal(SIGTERM);
  const auto status = daemon.process->wait_for_exit(2s);
  REQUIRE(status);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(daemon.process->output().find("greylist-milter stopped") != std::string::npos);
}

TEST_CASE("whitelists: used at start, reloaded on SIGHUP, a broken reload keeps the old lists") {
  Daemon daemon;
  daemon.write("clients", "# none yet\n");
  daemon.write("recipients", "vip@bar.test\n");
  daemon.start(300);
  LineClient client(daemon.port);
  REQUIRE(client.ok());
  CHECK(client.policy(triplet_request("a@foo.test", "vip@bar.test")) == "action=DUNNO\n\n");
  CHECK(daemon.log_shows("reason=recipient whitelist (recipients:1 vip@bar.test)"));
  CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "other@bar.test"))));

  daemon.write("recipients", "vip@bar.test\nother@bar.test\n");
  daemon.process->signal(SIGHUP);
  REQUIRE(daemon.log_shows("whitelists reloaded: 0 client rules, 2 recipient rules"));
  CHECK(client.policy(triplet_request("b@foo.test", "other@bar.test")) == "action=DUNNO\n\n");

  daemon.write("clients", "mail.foo.test\nthis is not a rule\n");
  daemon.process->signal(SIGHUP);
  REQUIRE(daemon.log_shows("clients:2: doesn't look like a hostname"));
  CHECK(daemon.log_shows("keeping the old lists"));
  // The old lists are still in force: the recipient rule holds, the new client rule does not.
  CHECK(client.policy(triplet_request("c@foo.test", "other@bar.test")) == "action=DUNNO\n\n");
  CHECK(is_greylist(client.policy(triplet_request("c@foo.test", "third@bar.test"))));
  // The connection survived every reload.
  CHECK(client.ok());
}

TEST_CASE("a broken whitelist at start is fatal, naming file and line") {
  Daemon daemon;
  daemon.write("clients", "good.example\n\n/(unclosed/\n");
  daemon.write("recipients", "");
  daemon.start(300);
  const auto status = daemon.process->wait_for_exit(10s);
  REQUIRE(status);
  CHECK(WEXITSTATUS(*status) == 1);
  CHECK(daemon.process->output().find(daemon.dir + "/clients:3: bad regex") != std::string::npos);
}

}  // TEST_SUITE
