// The built greylist-milter executable as an admin runs it: options, start,
// the policy protocol over TCP, SIGKILL and restart on the same database,
// SIGTERM. GREYLIST_MILTER_BINARY is the path meson gives.
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/file.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/wait.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>
#include <sstream>
#include <thread>
#include <utility>

#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/dnsmasq_server.h"
#include "support/line_client.h"
#include "support/milter_client.h"
#include "support/temp_dir.h"

using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

std::string triplet_request(const std::string& sender, const std::string& recipient,
                            const std::string& client = "203.0.113.7") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=mail.foo.test\nsender=" + sender + "\nrecipient=" + recipient +
         "\ninstance=" + sender + recipient + "\n";
}

// The descriptor of `pid` that listens on 127.0.0.1:`port` (-1: none).
int listening_fd(pid_t pid, int port) {
  std::ifstream tcp("/proc/" + std::to_string(pid) + "/net/tcp");
  std::string line, inode;
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  while (std::getline(tcp, line) && inode.empty()) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, skip;
    fields >> slot >> local >> remote >> state;
    if (state != "0A" || local.size() < 5 || local.substr(local.size() - 5) != wanted) continue;
    for (int i = 0; i < 5; ++i) fields >> skip;  // tx/rx, timer, retransmits, uid, timeout
    fields >> inode;
  }
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  for (int fd = 0; fd < 4096 && !inode.empty(); ++fd) {
    char target[64] = {};
    const std::string link = dir + "/" + std::to_string(fd);
    if (readlink(link.c_str(), target, sizeof target - 1) > 0 &&
        std::string(target) == "socket:[" + inode + "]") {
      return fd;
    }
  }
  return -1;
}

void fs_remove(const std::string& path) { std::remove(path.c_str()); }

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
  const TempDir scratch("greylist-baddb");
  const std::string& dir = scratch.path();
  { std::ofstream(dir + "/not-a-dir") << "x"; }
  std::string out;
  const int status = run_program({GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" +
                                  std::to_string(free_loopback_port()), "--milter", "none",
                                  "--dbdir", dir + "/not-a-dir", "--log", "stderr", "--pool-by-spf", "no"},
                                 out, 10s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find(dir + "/not-a-dir") != std::string::npos);
}

TEST_CASE("a port in use is fatal, naming the socket") {
  DaemonProcess first("greylist-process");
  REQUIRE_MESSAGE(first.start({"--delay", "300"}), first.log());
  LineClient probe(first.policy_port);
  REQUIRE(probe.ok());
  std::string out;
  const TempDir scratch("greylist-port");
  const std::string& dir = scratch.path();
  const int status = run_program({GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" +
                                  std::to_string(first.policy_port), "--milter", "none",
                                  "--dbdir", dir, "--log", "stderr", "--pool-by-spf", "no"}, out,
                                 10s);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find(std::to_string(first.policy_port)) != std::string::npos);
}

TEST_CASE("the milter port in use: a clear message at start, OpenDKIM named for 8891") {
  // Something listening on `port` (this test, or whoever has it already).
  const auto occupy = [](int port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 4) != 0) {
      close(fd);
      return -1;  // taken already: by someone listening, or in TIME_WAIT only
    }
    return fd;
  };
  const TempDir temp("greylist-milter-port");
  const std::string& dir = temp.path();
  const int other_port = free_loopback_port();
  const int other = occupy(other_port);
  REQUIRE(other >= 0);
  const int dkim = occupy(8891);
  for (const std::string& milter : {"inet:127.0.0.1:" + std::to_string(other_port), std::string()}) {
    CAPTURE(milter);
    std::vector<std::string> argv{GREYLIST_MILTER_BINARY, "--policy",
                                  "inet:127.0.0.1:" + std::to_string(free_loopback_port()),
                                  "--dbdir", dir + "/db", "--log", "stderr", "--pool-by-spf", "no"};
    if (!milter.empty()) argv.insert(argv.end(), {"--milter", milter});
    std::string out;
    const int status = run_program(argv, out, 20s);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    if (milter.empty()) {
      if (dkim < 0 && out.find("is in use") == std::string::npos) {
        MESSAGE("port 8891 is held but not listened on: the default's message not checked");
        continue;
      }
      CHECK_MESSAGE(out.find("cannot listen on inet:127.0.0.1:8891: port 8891 is in use \u2014 by "
                             "OpenDKIM? set --milter (another port, a unix socket, or none)") !=
                        std::string::npos, out);
    } else {
      CHECK_MESSAGE(out.find("cannot listen on " + milter + ": port " + std::to_string(other_port) +
                             " is in use; set --milter") != std::string::npos, out);
    }
  }
  close(other);
  if (dkim >= 0) close(dkim);
}

TEST_CASE("started while a tool holds the database: waits for it (logged once), then serves") {
  // Issue 15: a daemon started while greylistctl worked on the stopped
  // daemon's database (a long dump or import) failed at once "in use". The
  // tool is played by its lock: greylistctl, owning the directory, holds
  // DBDIR/greylist-milter.lock exclusively until it exits.
  DaemonProcess daemon("greylist-process");
  REQUIRE(mkdir(daemon.dbdir.c_str(), 0700) == 0);
  const int lock = open((daemon.dbdir + "/greylist-milter.lock").c_str(),
                        O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(lock >= 0);
  REQUIRE(flock(lock, LOCK_EX | LOCK_NB) == 0);
  if (geteuid() == 0) {  // as the tool leaves it: the service user's
    const passwd* user = getpwnam("greylist-milter");
    REQUIRE(user != nullptr);
    REQUIRE(chown((daemon.dbdir).c_str(), user->pw_uid, user->pw_gid) == 0);
    REQUIRE(fchown(lock, user->pw_uid, user->pw_gid) == 0);
  }
  daemon.spawn({"--delay", "300"});
  CHECK_MESSAGE(daemon.log_shows("is in use by another process, a tool such as greylistctl (lock file " +
                         daemon.dbdir + "/greylist-milter.lock): waiting up to 100 s"), daemon.log());
  std::this_thread::sleep_for(1500ms);
  CHECK_FALSE(daemon.wait_for_exit(0ms));
  CHECK(daemon.log().find("ready") == std::string::npos);
  close(lock);  // the tool is done
  REQUIRE(daemon.log_shows("ready", 10s));
  LineClient client(daemon.policy_port, 5s);
  REQUIRE(client.ok());
  CHECK(is_greylist(client.policy(triplet_request("wait@foo.test", "b@bar.test"))));
  const std::string log = daemon.log();
  CHECK(log.find("waiting up to") == log.rfind("waiting up to"));  // once
}

TEST_CASE("postgrey's options: Debian's POSTGREY_OPTS, a line with every option, -n refused") {
  // Issue 15: -q, --syslogfacility, --facility, --exim, --listen-queue-size,
  // -n and --man were refused as unknown, so a postgrey command line did
  // not start the daemon.
  const TempDir temp("greylist-postgrey-options");
  const std::string& dir = temp.path();
  std::ofstream(dir + "/empty") << "";
  const auto ours = [&](std::vector<std::string> postgrey) {
    postgrey.insert(postgrey.begin(), GREYLIST_MILTER_BINARY);
    postgrey.insert(postgrey.end(), {"--milter", "none", "--log", "stderr", "--pool-by-spf", "no",
                                     "--whitelist-clients",
                                     dir + "/empty", "--whitelist-recipients", dir + "/empty"});
    return postgrey;
  };
  {
    // Debian's /etc/default/postgrey line, its port moved to a free one.
    const int port = free_loopback_port();
    ChildProcess debian(ours({"--inet=" + std::to_string(port), "--dbdir=" + dir + "/debian"}),
                        dir + "/debian.log");
    LineClient client(port, 10s);
    REQUIRE_MESSAGE(client.ok(), debian.output());
    CHECK(is_greylist(client.policy(triplet_request("deb@foo.test", "b@bar.test"))));
  }
  const int port = free_loopback_port();
  ChildProcess every(
      ours({"-v", "-q", "--unix=" + dir + "/postgrey.sock", "-i", "127.0.0.1:" + std::to_string(port),
            "--socketmode=0660", "--user=greylist-milter", "--group=greylist-milter",
            "--dbdir=" + dir + "/every", "--pidfile=" + dir + "/every.pid", "--delay=60",
            "--max-age=20", "--lookup-by-subnet", "--ipv4cidr=24", "--ipv6cidr=64",
            "--auto-whitelist-clients", "--syslogfacility=local3", "--retry-window=6h",
            "--greylist-action=451", "--greylist-text=Wait %s seconds", "--privacy",
            "--hostname=mx.test", "--exim", "--listen-queue-size=5000",
            "--x-greylist-header=X-Greylist: delayed %t seconds"}),
      dir + "/every.log");
  LineClient client(port, 10s);
  REQUIRE_MESSAGE(client.ok(), every.output());
  CHECK(client.policy(triplet_request("all@foo.test", "b@bar.test")).value_or("") ==
        "action=451 Wait 60 seconds\n\n");
  // --exim: the connection ends after the reply.
  CHECK_FALSE(client.policy(triplet_request("all2@foo.test", "b@bar.test")));
  // -q: no decision lines (the start-up lines remain).
  std::this_thread::sleep_for(200ms);
  CHECK(every.output().find("action=greylist") == std::string::npos);
  CHECK(every.output().find("ready") != std::string::npos);
  every.signal(SIGTERM);
  CHECK(every.wait_for_exit(5s));

  std::string out;
  int status = run_program(ours({"--inet=10023", "-n"}), out, 10s);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(out.find("don't know how to \"no-action\"") != std::string::npos);
  status = run_program(ours({"--inet=10023", "--facility=local1", "--syslog-facility=mail"}), out, 10s);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK(out.find("give one of --syslog-facility, --syslogfacility, --facility") != std::string::npos);
  setenv("MANPAGER", "cat", 1);
  status = run_program({GREYLIST_MILTER_BINARY, "--man"}, out, 30s);
  unsetenv("MANPAGER");
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out.find("greylist-milter") != std::string::npos);
}

TEST_CASE("a front end that stops by itself: the daemon exits non-zero, naming it") {
  // libmilter's loop ends when its listening socket fails: closed here from
  // inside the daemon with gdb. Before issue 15 the daemon woke itself with
  // a SIGTERM that libmilter's signal thread could take, and went on
  // without a milter, or exited 0, which Restart=on-failure left dead.
  if (access("/usr/bin/gdb", X_OK) != 0 || geteuid() != 0) {
    MESSAGE("gdb (or root) missing: skipped");
    return;
  }
  DaemonProcess daemon("greylist-process");
  const int milter_port = free_loopback_port();
  daemon.milter_port = milter_port;
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  REQUIRE(daemon.log_shows("ready"));
  const int fd = listening_fd(daemon.pid(), milter_port);
  REQUIRE(fd >= 0);
  std::string out;
  run_program({"/usr/bin/gdb", "-p", std::to_string(daemon.pid()), "-batch", "-ex",
               "call (int)close(" + std::to_string(fd) + ")"},
              out, 60s);
  const auto status = daemon.wait_for_exit(20s);
  REQUIRE_MESSAGE(status, daemon.log());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 3);
  CHECK(daemon.log_shows("error: the milter front end stopped without being asked to"));
  CHECK(daemon.log_shows("greylist-milter stopped"));
}

TEST_CASE("greylist, SIGKILL, restart: every answered triplet survives with its first-seen time") {
  DaemonProcess daemon("greylist-process");
  // Sender-domain auto-whitelisting off: each of the senders below must be
  // decided by its own triplet.
  const std::vector<std::string> no_domain_awl{"--delay", "3", "--auto-whitelist-domains", "0"};
  REQUIRE_MESSAGE(daemon.start(no_domain_awl), daemon.log());
  constexpr int kTriplets = 100;
  {
    LineClient client(daemon.policy_port);
    REQUIRE(client.ok());
    for (int i = 0; i < kTriplets; ++i) {
      const auto reply = client.policy(triplet_request("s" + std::to_string(i) + "@foo.test", "r@bar.test"));
      REQUIRE(is_greylist(reply));
    }
    // Killed right after the last answer, with no chance to flush or close.
    daemon.signal(SIGKILL);
    REQUIRE(daemon.wait_for_exit(5s));
  }
  const auto first_seen = std::chrono::steady_clock::now();
  REQUIRE_MESSAGE(daemon.start(no_domain_awl), daemon.log());
  LineClient client(daemon.policy_port, 10s);
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
  CHECK(daemon.log().find("action=greylist, reason=new, client_name=mail.foo.test, "
                                      "client_address=203.0.113.7, sender=late@foo.test, "
                                      "recipient=r@bar.test") != std::string::npos);
}

TEST_CASE("SIGTERM with an idle client connected: clean exit within 2 s") {
  DaemonProcess daemon("greylist-process");
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  REQUIRE(is_greylist(client.policy(triplet_request("a@foo.test", "b@bar.test"))));
  const auto start = std::chrono::steady_clock::now();
  daemon.signal(SIGTERM);
  const auto status = daemon.wait_for_exit(2s);
  REQUIRE(status);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(daemon.log().find("greylist-milter stopped") != std::string::npos);
}

TEST_CASE("whitelists: used at start, reloaded on SIGHUP, an unreadable file keeps the old lists") {
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "# none yet\n");
  daemon.write("recipients", "vip@bar.test\n");
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(client.policy(triplet_request("a@foo.test", "vip@bar.test")) == "action=DUNNO\n\n");
  CHECK(daemon.log_shows("reason=recipient whitelist (recipients:1 vip@bar.test)"));
  CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "other@bar.test"))));

  daemon.write("recipients", "vip@bar.test\nother@bar.test\n");
  daemon.signal(SIGHUP);
  REQUIRE(daemon.log_shows("whitelists reloaded: 0 client rules, 2 recipient rules"));
  CHECK(client.policy(triplet_request("b@foo.test", "other@bar.test")) == "action=DUNNO\n\n");

  // A line postgrey would skip: skipped with a warning, the rest used.
  daemon.write("clients", "this is not a rule\nmail.foo.test\n");
  daemon.signal(SIGHUP);
  REQUIRE(daemon.log_shows("clients:1: doesn't look like a hostname: skipped"));
  REQUIRE(daemon.log_shows("whitelists reloaded: 1 client rules, 2 recipient rules"));
  CHECK(client.policy(triplet_request("c@foo.test", "third@bar.test")) == "action=DUNNO\n\n");
  // A file that cannot be read at all: the old lists stay in force.
  fs_remove(daemon.dir + "/clients");
  REQUIRE(mkdir((daemon.dir + "/clients").c_str(), 0755) == 0);
  daemon.signal(SIGHUP);
  REQUIRE(daemon.log_shows("keeping the old lists"));
  CHECK(client.policy(triplet_request("d@foo.test", "fourth@bar.test")) == "action=DUNNO\n\n");
  // The connection survived every reload.
  CHECK(client.ok());
}

TEST_CASE("rules: an invalid or missing file stops the start with exit status 2, naming FILE:LINE") {
  DaemonProcess daemon("greylist-process");
  const std::string rules = daemon.dir + "/rules";
  daemon.write("rules", "racl blacklist rcpt bad@bar.test\nracl nonsense\n");
  daemon.spawn({"--rules", rules});
  auto status = daemon.wait_for_exit(10s);
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 2);
  CHECK(daemon.log().find(rules + ":2: ") != std::string::npos);

  daemon.spawn({"--rules", daemon.dir + "/absent"});
  status = daemon.wait_for_exit(10s);
  REQUIRE(status);
  CHECK(WEXITSTATUS(*status) == 2);
  CHECK(daemon.log().find(daemon.dir + "/absent: ") != std::string::npos);
}

TEST_CASE("rules: used at start, reloaded on SIGHUP, an invalid file keeps the old rules; DNS lists") {
  DnsmasqZones zones;
  zones.records = {{"9.113.0.203.bl.test", "127.0.0.2"}};
  zones.local_zones = {"bl.test"};
  DnsmasqServer dns(zones);
  DaemonProcess daemon("greylist-process");
  const std::string rules = daemon.dir + "/rules";
  daemon.write("rules", "dnsrbl \"bl\" bl.test 127.0.0.2\n"
                        "racl \"listed\" blacklist dnsrbl \"bl\"\n"
                        "racl \"no\" blacklist rcpt bad@bar.test\n");
  const int metrics_port = free_loopback_port();
  REQUIRE_MESSAGE(daemon.start({"--rules", rules, "--dns-server", dns.address(), "--dns-timeout",
                                "2000", "--metrics", "inet:127.0.0.1:" + std::to_string(metrics_port)}),
                  daemon.log());
  CHECK(daemon.log_shows("rules " + rules + ": 2 rules, 0 lists, 1 DNS lists"));
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(client.policy(triplet_request("a@foo.test", "bad@bar.test")) ==
        "action=550 5.7.1 Rejected by local policy (rule no)\n\n");
  CHECK(daemon.log_shows("action=reject, reason=rule blacklist, rule=" + rules + ":3 (no), client_name="));
  CHECK(client.policy(triplet_request("a@foo.test", "x@bar.test", "203.0.113.9")) ==
        "action=550 5.7.1 Rejected by local policy (rule listed)\n\n");
  CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "x@bar.test", "203.0.113.8"))));

  daemon.write("rules", "racl \"no\" blacklist rcpt other@bar.test\n");
  daemon.signal(SIGHUP);
  REQUIRE(daemon.log_shows("rules " + rules + ": 1 rules, 0 lists, 0 DNS lists"));
  CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "bad@bar.test"))));
  CHECK(client.policy(triplet_request("a@foo.test", "other@bar.test")) ==
        "action=550 5.7.1 Rejected by local policy (rule no)\n\n");

  daemon.write("rules", "racl nonsense\n");
  daemon.signal(SIGHUP);
  REQUIRE(daemon.log_shows("rules reload failed, keeping the old rules: " + rules + ":1: "));
  CHECK(client.policy(triplet_request("b@foo.test", "other@bar.test")) ==
        "action=550 5.7.1 Rejected by local policy (rule no)\n\n");

  LineClient http(metrics_port);
  REQUIRE(http.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  const auto response = http.read_until("greylist_start_time_seconds ");
  REQUIRE(response);
  CHECK(response->find("greylist_rule_matches_total{rule=\"no\",action=\"blacklist\"} 3\n") != std::string::npos);
  CHECK(response->find("greylist_rule_matches_total{rule=\"listed\",action=\"blacklist\"} 1\n") != std::string::npos);
  CHECK(response->find("greylist_dns_list_answers_total{list=\"bl\",answer=\"listed\"} 1\n") != std::string::npos);
  CHECK(response->find("greylist_dns_list_answers_total{list=\"bl\",answer=\"not_listed\"} 2\n") != std::string::npos);
  CHECK(response->find("greylist_rules_reloads_total{result=\"failed\"} 1\n") != std::string::npos);
}

TEST_CASE("rules: a silent DNS list is 'not listed' after --dns-timeout, its failures logged once") {
  DnsmasqZones zones;
  zones.silent_zones = {"silent.test"};
  DnsmasqServer dns(zones);
  DaemonProcess daemon("greylist-process");
  daemon.write("rules", "dnsrbl \"silent\" silent.test 127.0.0.2\n"
                        "racl blacklist dnsrbl \"silent\"\n");
  REQUIRE_MESSAGE(daemon.start({"--rules", daemon.dir + "/rules", "--dns-server", dns.address(),
                                "--dns-timeout", "300"}),
                  daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  for (const char* address : {"203.0.113.21", "203.0.113.22", "203.0.113.23"}) {
    CAPTURE(address);
    const auto start = std::chrono::steady_clock::now();
    CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "b@bar.test", address))));
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  }
  CHECK(daemon.log_shows("DNS list silent.test: lookup of 21.113.0.203.silent.test failed (no answer in time) at " +
                         dns.address() + ", counted as not listed"));
  CHECK(daemon.lines_with("DNS list silent.test: ") == 1);
  CHECK(daemon.lines_with("error") == 0);
}

TEST_CASE("SIGHUP reloads under concurrent load: every request answered, every answer right") {
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "");
  daemon.write("recipients", "vip@bar.test\n");
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  { LineClient probe(daemon.policy_port); REQUIRE(probe.ok()); }
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      LineClient client(daemon.policy_port);
      for (int i = 0; i < 20000 && !stop; ++i) {  // bounded in count, and by the reload loop
        const bool vip = i % 2 == 0;
        const auto reply = client.policy(triplet_request(
            "s" + std::to_string(c) + "-" + std::to_string(i) + "@foo.test",
            vip ? "vip@bar.test" : "r" + std::to_string(i) + "@bar.test"));
        if (!reply) { ++wrong; return; }
        ++answered;
        if (vip ? *reply != "action=DUNNO\n\n" : !is_greylist(reply)) ++wrong;
      }
    });
  }
  for (int round = 0; round < 20; ++round) {
    daemon.write("recipients", "vip@bar.test\n# round " + std::to_string(round) + "\n");
    daemon.signal(SIGHUP);
    std::this_thread::sleep_for(25ms);
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(wrong == 0);
  CHECK(answered > 100);
  CHECK(daemon.log_shows("whitelists reloaded"));
}

TEST_CASE("with the milter on, a burst of SIGHUPs reloads and never stops the daemon") {
  // libmilter's signal thread would stop the milter on a SIGHUP it took
  // (src/milter/libmilter_signal_thread.h): the main thread must be the one
  // that receives them, and reload.
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "");
  daemon.write("recipients", "");
  daemon.milter_port = free_loopback_port();
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  REQUIRE(daemon.log_shows(": ready\n"));
  daemon.write("recipients", "vip@bar.test\n");
  for (int i = 0; i < 30; ++i) {
    daemon.signal(SIGHUP);
    std::this_thread::sleep_for(2ms);
  }
  // The reloads happened (the new rule is in force) and the daemon lives on.
  REQUIRE(daemon.log_shows("whitelists reloaded: 0 client rules, 1 recipient rules"));
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(daemon.wait_for_exit(0ms));
  CHECK(client.policy(triplet_request("hup@foo.test", "vip@bar.test")) == "action=DUNNO\n\n");
  CHECK(is_greylist(client.policy(triplet_request("hup@foo.test", "b@bar.test"))));
  CHECK(daemon.log().find("shutting down") == std::string::npos);
}

TEST_CASE("with the milter on, SIGHUPs from the first log line on never stop the daemon") {
  // Before the "ready" line the threads are being started: a signal then
  // must still reach the main thread, not libmilter's signal thread.
  for (int round = 0; round < 5; ++round) {
    DaemonProcess daemon("greylist-process");
    daemon.write("clients", "");
    daemon.write("recipients", "");
    daemon.milter_port = free_loopback_port();
    daemon.spawn({"--delay", "300"});  // not waiting: signals from the first log line on
    REQUIRE(daemon.log_shows(" starting: "));
    // Bounded: at most 4,000 signals, 50 µs apart, well past "ready".
    int after_ready = 0;
    for (int i = 0; i < 4000 && after_ready < 500; ++i) {
      daemon.signal(SIGHUP);
      std::this_thread::sleep_for(50us);
      if (after_ready > 0 || daemon.log().find(": ready\n") != std::string::npos) {
        ++after_ready;
      }
    }
    REQUIRE(daemon.log_shows(": ready\n"));
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(daemon.wait_for_exit(0ms));
    const std::string log = daemon.log();
    CHECK(log.find("stopped on its own") == std::string::npos);
    CHECK(log.find("shutting down") == std::string::npos);
    LineClient client(daemon.policy_port);
    CHECK(is_greylist(client.policy(triplet_request("early-hup@foo.test", "b@bar.test"))));
  }
}

TEST_CASE("with the milter on, a SIGHUP sent to any thread but the main one never stops the daemon") {
  // libmilter's signal thread would stop the milter on a SIGHUP it takes
  // (src/milter/libmilter_signal_thread.h): sent to each thread by its id,
  // the signal reaches that thread whatever the main thread is doing.
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "");
  daemon.write("recipients", "");
  daemon.milter_port = free_loopback_port();
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  const pid_t pid = daemon.pid();
  int signalled = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    const pid_t tid = static_cast<pid_t>(std::stol(entry.path().filename().string()));
    if (tid == pid || signalled >= 200) continue;
    if (syscall(SYS_tgkill, pid, tid, SIGHUP) == 0) ++signalled;
  }
  MESSAGE("threads other than the main one sent SIGHUP: " << signalled);
  CHECK(signalled >= 3);  // at least libmilter's listener, signal thread and pool
  // libmilter's listener looks at its stop flag when woken: a connection
  // wakes it, and must be served.
  std::this_thread::sleep_for(200ms);
  auto milter = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(daemon.milter_port));
  REQUIRE(milter.has_value());
  CHECK(milter->negotiate().has_value());
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(daemon.wait_for_exit(0ms));
  CHECK(daemon.log().find("stopped on its own") == std::string::npos);
  LineClient client(daemon.policy_port);
  CHECK(is_greylist(client.policy(triplet_request("thread-hup@foo.test", "b@bar.test"))));
}

TEST_CASE("--metrics serves Prometheus text over HTTP with the decisions made and the SPF checker's counters") {
  // foo.test passes SPF through `a`: the pass is probed (a wildcard?).
  DnsmasqZones zones;
  zones.txt_records = {{"foo.test", {"v=spf1 a:mx.foo.test -all"}}};
  zones.records = {{"mx.foo.test", "203.0.113.7"}};
  zones.local_zones = {"foo.test"};
  DnsmasqServer dns(zones);
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "");
  daemon.write("recipients", "vip@bar.test\n");
  const int metrics_port = free_loopback_port();
  REQUIRE_MESSAGE(daemon.start({"--delay", "300", "--metrics", "inet:127.0.0.1:" + std::to_string(metrics_port),
                                "--pool-by-spf", "yes", "--dns-server", dns.address()}),
                  daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  REQUIRE(is_greylist(client.policy(triplet_request("m@foo.test", "b@bar.test"))));
  REQUIRE(client.policy(triplet_request("m@foo.test", "vip@bar.test")) == "action=DUNNO\n\n");

  LineClient http(metrics_port);
  REQUIRE(http.ok());
  REQUIRE(http.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  const auto response = http.read_until("greylist_start_time_seconds ");
  REQUIRE(response);
  CHECK(response->rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(response->find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(response->find("greylist_decisions_total{front_end=\"policy\",action=\"greylist\",reason=\"new\"} 1\n") != std::string::npos);
  CHECK(response->find("greylist_decisions_total{front_end=\"policy\",action=\"whitelisted\",reason=\"recipient whitelist\"} 1\n") != std::string::npos);
  // Both requests had SPF's pass; the connection's memo (spf/spf_memo.h)
  // answered the second, so the checker was asked once, and probed once.
  CHECK(response->find("greylist_spf_results_total{result=\"pass\"} 2\n") != std::string::npos);
  CHECK(response->find("# TYPE greylist_spf_checks_total counter\ngreylist_spf_checks_total 1\n") != std::string::npos);
  CHECK(response->find("# TYPE greylist_spf_probes_total counter\ngreylist_spf_probes_total 1\n") != std::string::npos);
  CHECK(response->find("\ngreylist_spf_timeouts_total 0\n") != std::string::npos);
  CHECK(response->find("\ngreylist_spf_cache_hits_total ") != std::string::npos);
  CHECK(response->find("\ngreylist_spf_dns_rounds_total ") != std::string::npos);
  CHECK(response->find("# TYPE greylist_spf_cached_verdicts gauge\ngreylist_spf_cached_verdicts ") != std::string::npos);

  LineClient other(metrics_port);
  REQUIRE(other.send("GET /secret HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto not_found = other.read_until("\r\n");
  REQUIRE(not_found);
  CHECK(*not_found == "HTTP/1.1 404 Not Found\r\n");
  LineClient garbage(metrics_port);
  REQUIRE(garbage.send(std::string(20000, 'A') + "\r\n\r\n"));
  CHECK(garbage.closed_by_peer(5s));
  // The daemon still serves.
  CHECK(is_greylist(client.policy(triplet_request("m2@foo.test", "b@bar.test"))));
}

TEST_CASE("a whitelist line postgrey would skip, at start: skipped with a warning naming file and line") {
  // Issue 15: it was fatal; postgrey skips it with a warning.
  DaemonProcess daemon("greylist-process");
  daemon.write("clients", "/(unclosed/\n\nmail.foo.test\n");
  daemon.write("recipients", "");
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(daemon.log_shows("warning: " + daemon.dir + "/clients:1: bad regex"));
  // The rest of the file is used.
  CHECK(client.policy(triplet_request("a@foo.test", "b@bar.test")) == "action=DUNNO\n\n");
  CHECK(daemon.log_shows("reason=client whitelist (clients:3 mail.foo.test)"));
}

namespace {
// The real uid of a running process, from /proc.
std::string uid_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream fields(line.substr(4));
      std::string real;
      fields >> real;
      return real;
    }
  }
  return "";
}
}  // namespace

TEST_CASE("started as root: runs as the service user, which owns the database it created") {
  if (geteuid() != 0) {
    MESSAGE("not root: privilege dropping not exercised");
    return;
  }
  const passwd* service = getpwnam("greylist-milter");
  REQUIRE_MESSAGE(service != nullptr, "the test command creates the greylist-milter user");
  DaemonProcess daemon("greylist-process");
  REQUIRE_MESSAGE(daemon.start({"--delay", "300"}), daemon.log());
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  REQUIRE(is_greylist(client.policy(triplet_request("a@foo.test", "b@bar.test"))));
  CHECK(uid_of(daemon.pid()) == std::to_string(service->pw_uid));
  struct stat st {};
  REQUIRE(stat((daemon.dir + "/db/triplets.db").c_str(), &st) == 0);
  CHECK(st.st_uid == service->pw_uid);
  REQUIRE(stat((daemon.dir + "/db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("started as root: refuses to run as root, an unknown user, or a database owned by someone else") {
  if (geteuid() != 0) {
    MESSAGE("not root: privilege dropping not exercised");
    return;
  }
  const TempDir scratch("greylist-user");
  const std::string& dir = scratch.path();
  const std::string port = std::to_string(free_loopback_port());
  const std::vector<std::string> base{GREYLIST_MILTER_BINARY, "--policy", "inet:127.0.0.1:" + port,
                                      "--milter", "none", "--log", "stderr", "--pool-by-spf", "no"};
  std::string out;
  auto args = base;
  args.insert(args.end(), {"--dbdir", dir + "/a", "--user", "root"});
  CHECK(WEXITSTATUS(run_program(args, out, 10s)) == 1);
  CHECK(out.find("refuses to run as root") != std::string::npos);

  args = base;
  args.insert(args.end(), {"--dbdir", dir + "/b", "--user", "no-such-user-here"});
  CHECK(WEXITSTATUS(run_program(args, out, 10s)) == 1);
  CHECK(out.find("user 'no-such-user-here' does not exist") != std::string::npos);

  // An empty directory owned by root is taken over, and closed to others.
  mkdir((dir + "/empty").c_str(), 0755);
  args = base;
  args.insert(args.end(), {"--dbdir", dir + "/empty", "--daemonize", "--pidfile", dir + "/pid"});
  REQUIRE(WEXITSTATUS(run_program(args, out, 15s)) == 0);
  struct stat st {};
  REQUIRE(stat((dir + "/empty").c_str(), &st) == 0);
  CHECK(st.st_uid == getpwnam("greylist-milter")->pw_uid);
  CHECK((st.st_mode & 0777) == 0700);
  {
    std::string pid_text;
    std::ifstream(dir + "/pid") >> pid_text;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
  }

  // A non-empty directory owned by root is not silently taken over.
  mkdir((dir + "/c").c_str(), 0755);
  { std::ofstream(dir + "/c/something") << "x"; }
  args = base;
  args.insert(args.end(), {"--dbdir", dir + "/c"});
  CHECK(WEXITSTATUS(run_program(args, out, 10s)) == 1);
  CHECK(out.find("chown -R greylist-milter: " + dir + "/c") != std::string::npos);
}

TEST_CASE("started as root: unix sockets get --socketmode and the service group; one it cannot remove is told before 'stopped'") {
  if (geteuid() != 0) {
    MESSAGE("not root: socket ownership not exercised");
    return;
  }
  const passwd* service = getpwnam("greylist-milter");
  REQUIRE(service != nullptr);
  DaemonProcess daemon("greylist-process");
  const std::string policy_path = daemon.dir + "/policy.sock";
  daemon.milter = "unix:" + daemon.dir + "/milter.sock";
  REQUIRE_MESSAGE(daemon.start({"--delay", "300", "--policy", "unix:" + policy_path, "--socketmode", "0660"}), daemon.log());
  LineClient client(policy_path);
  REQUIRE(client.ok());
  CHECK(is_greylist(client.policy(triplet_request("u@foo.test", "b@bar.test"))));
  for (const std::string& path : {policy_path, daemon.dir + "/milter.sock"}) {
    CAPTURE(path);
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == service->pw_gid);
  }
  // The test's directory is root's: the service user cannot remove the
  // sockets at stop. Each failure is logged, with its reason and what to
  // do, before the daemon's last line.
  const auto stopped = daemon.stop();
  REQUIRE(stopped.has_value());
  CHECK(WEXITSTATUS(*stopped) == 0);
  const std::string log = daemon.log_since_start();
  const auto last = log.find("greylist-milter stopped");
  REQUIRE_MESSAGE(last != std::string::npos, log);
  const std::vector<std::pair<std::string, std::string>> sockets{
      {"policy server: ", policy_path}, {"milter: ", daemon.dir + "/milter.sock"}};
  for (const auto& [who, path] : sockets) {
    CAPTURE(path);
    const auto failure = log.find(who + "cannot remove " + path + ": Permission denied (the service user may not write " + daemon.dir + ";");
    CHECK_MESSAGE(failure < last, log);
    CHECK(access(path.c_str(), F_OK) == 0);  // left for the next start to replace
  }
  CHECK(log.find("/run/greylist-milter") < last);
}

TEST_CASE("the milter's unix socket: a stale one replaced, a live one refused, removed on SIGTERM") {
  DaemonProcess first("greylist-process");
  // A directory the daemon may still write after dropping to its user.
  const std::string run_dir = first.dir + "/run";
  REQUIRE(mkdir(run_dir.c_str(), 0755) == 0);
  if (geteuid() == 0) {
    const passwd* service = getpwnam("greylist-milter");
    REQUIRE(service != nullptr);
    REQUIRE(chown(run_dir.c_str(), service->pw_uid, service->pw_gid) == 0);
  }
  const std::string path = run_dir + "/milter.sock";
  first.milter = "unix:" + path;
  {  // A stale socket, as a killed daemon leaves it: bound, nobody listening.
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    close(fd);
  }
  REQUIRE_MESSAGE(first.start({"--delay", "300"}), first.log());
  struct stat served {};
  REQUIRE(stat(path.c_str(), &served) == 0);

  // A second instance on the same socket refuses to start and leaves it be.
  DaemonProcess second("greylist-process");
  second.milter = first.milter;
  second.spawn({"--delay", "300"});
  const auto refused = second.wait_for_exit(10s);
  REQUIRE(refused.has_value());
  CHECK(WEXITSTATUS(*refused) != 0);
  CHECK_MESSAGE(second.log_shows("cannot listen on unix:" + path + ": another process serves it"),
                second.log());
  struct stat after {};
  REQUIRE(stat(path.c_str(), &after) == 0);
  CHECK(after.st_ino == served.st_ino);
  CHECK(LineClient(path, 0ms).ok());  // still the first one's

  const auto stopped = first.stop();
  REQUIRE(stopped.has_value());
  CHECK(WIFEXITED(*stopped));
  CHECK(WEXITSTATUS(*stopped) == 0);
  CHECK_MESSAGE(access(path.c_str(), F_OK) != 0, first.log());  // removed on a clean exit
}

TEST_CASE("systemd: READY=1 once serving, watchdog keep-alives, STOPPING=1 on SIGTERM") {
  // A datagram socket playing systemd's notification socket.
  DaemonProcess daemon("greylist-process");
  const std::string notify_path = daemon.dir + "/notify.sock";
  const int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(notify >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, notify_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(bind(notify, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  chmod(notify_path.c_str(), 0666);  // the daemon writes to it after dropping to its user
  setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  daemon.spawn({"--delay", "300"});  // READY=1 is what this waits for
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int watchdogs = 0;
  while (std::chrono::steady_clock::now() < deadline && watchdogs < 3) {
    pollfd p{notify, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[512];
    const ssize_t n = recv(notify, buffer, sizeof buffer, 0);
    if (n <= 0) continue;
    const std::string message(buffer, static_cast<std::size_t>(n));
    received += message + "|";
    if (message.find("WATCHDOG=1") != std::string::npos) ++watchdogs;
  }
  CHECK(received.find("READY=1") != std::string::npos);
  CHECK(watchdogs >= 3);
  // READY only once the policy socket answers.
  LineClient client(daemon.policy_port, 0ms);
  REQUIRE(client.ok());
  CHECK(is_greylist(client.policy(triplet_request("sd@foo.test", "b@bar.test"))));
  daemon.signal(SIGTERM);
  REQUIRE(daemon.wait_for_exit(5s));
  bool stopping = false;
  for (int i = 0; i < 50 && !stopping; ++i) {
    char buffer[512];
    const ssize_t n = recv(notify, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      stopping = std::string(buffer, static_cast<std::size_t>(n)).find("STOPPING=1") != std::string::npos;
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(stopping);
  close(notify);
}

TEST_CASE("--daemonize with --pidfile: returns once serving, pid file locked, stale file taken over") {
  const TempDir scratch("greylist-daemonize");
  const std::string& dir = scratch.path();
  const std::string pidfile = dir + "/greylist-milter.pid";
  { std::ofstream(pidfile) << "999999\n"; }  // left behind by a killed daemon
  const int port = free_loopback_port();
  const std::vector<std::string> args{GREYLIST_MILTER_BINARY, "--daemonize", "--pidfile", pidfile,
                                      "--policy", "inet:127.0.0.1:" + std::to_string(port),
                                      "--milter", "none", "--dbdir", dir + "/db", "--log", "stderr",
                                      "--pool-by-spf", "no"};
  std::string out;
  const int status = run_program(args, out, 15s);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  // It serves as soon as the command has returned.
  LineClient client(port, 0ms);
  REQUIRE(client.ok());
  CHECK(is_greylist(client.policy(triplet_request("a@foo.test", "b@bar.test"))));
  std::string pid_text;
  { std::ifstream(pidfile) >> pid_text; }
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  CHECK(pid != 999999);
  CHECK(kill(pid, 0) == 0);

  // A second daemon on the same pid file fails, and says why.
  auto second = args;
  second[5] = "inet:127.0.0.1:" + std::to_string(free_loopback_port());
  second[9] = dir + "/db2";
  CHECK(WEXITSTATUS(run_program(second, out, 15s)) == 1);
  CHECK(out.find("already running") != std::string::npos);

  kill(pid, SIGTERM);
  for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(kill(pid, 0) != 0);
}

TEST_CASE("--daemonize: a start-up error is reported by the command, with exit status 1") {
  const TempDir scratch("greylist-daemonize-fail");
  const std::string& dir = scratch.path();
  { std::ofstream(dir + "/file") << "x"; }
  std::string out;
  const int status = run_program({GREYLIST_MILTER_BINARY, "--daemonize", "--policy",
                                  "inet:127.0.0.1:" + std::to_string(free_loopback_port()),
                                  "--milter", "none", "--dbdir", dir + "/file", "--log", "stderr",
                                  "--pool-by-spf", "no"},
                                 out, 15s);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(out.find(dir + "/file") != std::string::npos);
}

}  // TEST_SUITE
