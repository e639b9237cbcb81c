// The built greylistctl against a database written by the built
// greylist-milter: every command while the daemon runs (greylistctl joins
// its environment) and after it stopped, exit statuses and usage lines, and
// the health check against a healthy daemon, a stopped one and servers that
// answer garbage or nothing. GREYLISTCTL_BINARY and GREYLIST_MILTER_BINARY
// are the paths meson gives.
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "greylist/record_codec.h"
#include "store/bdb_store.h"
#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/dnsmasq_server.h"
#include "support/line_client.h"
#include "support/temp_dir.h"

using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

struct Run {
  int status = -1;  // exit status, -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

Run ctl(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) {
  std::vector<std::string> argv{GREYLISTCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Run run;
  const int status = run_program(argv, run.output, timeout);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The lines of `text` containing `needle`.
std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(text)) {
    if (contains(line, needle)) out.push_back(line);
  }
  return out;
}

std::string request(const std::string& client, const std::string& sender,
                    const std::string& recipient) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=unknown\nsender=" + sender + "\nrecipient=" + recipient + "\n";
}

bool is_greylist(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT ", 0) == 0;
}
bool is_prepend(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=PREPEND X-Greylist: delayed ", 0) == 0;
}

// A daemon and greylistctl sharing one configuration file, as an admin
// has them: --config names the database, the delay and the whitelists.
struct Setup {
  DaemonProcess daemon{"greylistctl-commands"};
  std::string dir = daemon.dir;
  std::string db = daemon.dbdir;
  std::string config = dir + "/greylist-milter.conf";
  int port = daemon.policy_port;
  int milter_port = free_loopback_port();

  Setup() {
    daemon.config = config;
    daemon.milter_port = milter_port;
    daemon.write("whitelist_clients", "white.test\n10.1.2.3\n");
    daemon.write("whitelist_recipients", "postmaster@\n");
    daemon.write("greylist-milter.conf",
                 "dbdir = " + db + "\n"
                 "delay = 1\n"
                 "auto-whitelist-clients = 1\n"
                 "pool-by-domain = no\n"
                 "pool-by-spf = no\n"
                 "# the clients below have no verified name: one delay, networks whitelisted\n"
                 "dynamic-delay = 0\n"
                 "client-awl-key = network\n"
                 "whitelist-clients = " + dir + "/whitelist_clients\n"
                 "whitelist-recipients = " + dir + "/whitelist_recipients\n"
                 "policy = inet:127.0.0.1:" + std::to_string(port) + "\n"
                 "milter = inet:127.0.0.1:" + std::to_string(milter_port) + "\n"
                 "log = stderr\n"
                 "hostname = test.host\n");
  }
  void start() { REQUIRE_MESSAGE(daemon.start(), daemon.log()); }
  void stop() { REQUIRE(daemon.stop(std::chrono::seconds(10))); }
  Run run(std::vector<std::string> args, std::chrono::milliseconds timeout = 30s) const {
    args.insert(args.begin(), {"--config", config});
    return ctl(args, timeout);
  }
  // Every file in the database directory belongs to the owner of the
  // directory (the daemon's user when the tests run as root).
  std::vector<std::string> files_not_owned_by_dir_owner() const {
    struct stat dir_stat {};
    REQUIRE(::stat(db.c_str(), &dir_stat) == 0);
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(db)) {
      struct stat st {};
      if (::lstat(entry.path().c_str(), &st) == 0 && st.st_uid != dir_stat.st_uid) {
        out.push_back(entry.path().filename().string());
      }
    }
    return out;
  }
};

// A TCP server on 127.0.0.1 that answers each connection with `reply`
// (after reading what the client sent), or never answers when `reply` is
// empty. Stops within ~100 ms of its destruction.
class FakeServer {
 public:
  explicit FakeServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t length = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    std::vector<int> clients;
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) {
        const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          char buffer[512];
          pollfd c{client, POLLIN, 0};
          if (::poll(&c, 1, 1000) == 1) (void)::recv(client, buffer, sizeof buffer, 0);
          if (!reply_.empty()) (void)::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
          clients.push_back(client);  // kept open: the client must judge the reply itself
        }
      }
    }
    for (const int client : clients) ::close(client);
  }

  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_SUITE("greylistctl_commands") {

TEST_CASE("every command on the database of a running daemon, then with the daemon stopped") {
  Setup setup;
  setup.start();
  LineClient client(setup.port);
  REQUIRE(client.ok());
  const auto before = std::chrono::system_clock::now();
  REQUIRE(is_greylist(client.policy(request("203.0.113.7", "a@foo.test", "b@bar.test"))));
  REQUIRE(is_greylist(client.policy(request("198.51.100.9", "", "c@bar.test"))));
  REQUIRE(is_greylist(client.policy(request("2001:db8::5", "x+ext@foo.test", "d@bar.test"))));
  std::this_thread::sleep_for(2100ms);
  REQUIRE(is_prepend(client.policy(request("203.0.113.7", "a@foo.test", "b@bar.test"))));

  SUBCASE("dump: text and JSON") {
    const Run text = setup.run({"dump"});
    CHECK(text.status == 0);
    const auto lines = lines_of(text.output);
    REQUIRE(lines.size() == 3);
    // Key order: the stored keys are length-prefixed ("t1:10:2001:db8::..." sorts first).
    CHECK(lines[0].rfind("2001:db8:: x@foo.test d@bar.test ", 0) == 0);
    CHECK(lines[0].ends_with(" waiting"));
    CHECK(lines[1].rfind("203.0.113.0 a@foo.test b@bar.test ", 0) == 0);
    CHECK(lines[1].ends_with(" passed"));
    CHECK(lines[2].rfind("198.51.100.0 <> c@bar.test ", 0) == 0);
    CHECK(lines[2].ends_with(" waiting"));

    const Run json = setup.run({"dump", "--json"});
    CHECK(json.status == 0);
    const auto passed = lines_with(json.output, "\"client\":\"203.0.113.0\"");
    REQUIRE(passed.size() == 1);
    CHECK(contains(passed[0], "\"sender\":\"a@foo.test\",\"recipient\":\"b@bar.test\""));
    CHECK(contains(passed[0], "\"passed\":true"));
    const auto null_sender = lines_with(json.output, "\"client\":\"198.51.100.0\"");
    REQUIRE(null_sender.size() == 1);
    CHECK(contains(null_sender[0], "\"sender\":\"\""));
    CHECK(contains(null_sender[0], "\"passed\":false"));
    // first_seen_epoch is when the daemon saw it.
    const auto at = null_sender[0].find("\"first_seen_epoch\":");
    REQUIRE(at != std::string::npos);
    const long long first = std::stoll(null_sender[0].substr(at + 19));
    const long long t0 = std::chrono::duration_cast<std::chrono::seconds>(
                             before.time_since_epoch()).count();
    CHECK(first >= t0 - 1);
    CHECK(first <= t0 + 5);
  }

  SUBCASE("clients and stats") {
    const Run clients = setup.run({"clients"});
    CHECK(clients.status == 0);
    const auto lines = lines_of(clients.output);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].rfind("203.0.113.0 1 20", 0) == 0);
    CHECK(lines[0].ends_with("Z"));
    // Above the count: nobody.
    const Run strict = setup.run({"clients", "--auto-whitelist-clients", "2"});
    CHECK(strict.status == 0);
    CHECK(strict.output.empty());
    const Run all = setup.run({"clients", "--all", "--json", "--auto-whitelist-clients", "2"});
    CHECK(all.status == 0);
    CHECK(contains(all.output, "{\"client\":\"203.0.113.0\",\"count\":1,\"last_seen\":\"20"));
    const Run domains = setup.run({"clients", "--domains", "--all"});
    CHECK(domains.status == 0);
    CHECK(contains(domains.output, "203.0.113.0 foo.test 1 20"));

    const Run stats = setup.run({"stats"});
    CHECK(stats.status == 0);
    CHECK(contains(stats.output, "triplets: 3 (passed 1, waiting 2)\n"));
    CHECK(contains(stats.output, "clients: 1 (auto-whitelisted 1, threshold 1)\n"));
    CHECK(contains(stats.output, "sender domains: 1 (auto-whitelisted 0, threshold 2)\n"));
    CHECK(contains(stats.output, "database size: "));
  }

  SUBCASE("whitelist-check explains and records nothing") {
    const Run waiting = setup.run({"whitelist-check", "198.51.100.9", "unknown", "", "c@bar.test"});
    CHECK(waiting.status == 0);
    CHECK(contains(waiting.output, "decision: pass\nreason: triplet found\n"));
    CHECK(contains(waiting.output, "first pass after the delay"));
    const Run fresh = setup.run({"whitelist-check", "192.0.2.1", "unknown", "n@new.test", "r@bar.test"});
    CHECK(fresh.status == 0);
    CHECK(contains(fresh.output, "decision: greylist\nreason: new\nseconds left: 1\n"));
    CHECK(contains(fresh.output, "triplet (192.0.2.0, n@new.test, r@bar.test): not seen yet"));
    const Run awl = setup.run({"whitelist-check", "203.0.113.99", "unknown", "z@zz.test", "r@bar.test"});
    CHECK(contains(awl.output, "decision: pass (whitelisted)\nreason: client AWL\n"));
    const Run listed = setup.run({"whitelist-check", "10.1.2.3", "unknown", "z@zz.test", "r@bar.test"});
    CHECK(contains(listed.output, "reason: client whitelist (whitelist_clients:2 10.1.2.3)\n"));
    const Run named = setup.run({"whitelist-check", "192.0.2.1", "mx.white.test", "z@zz.test", "r@bar.test"});
    CHECK(contains(named.output, "reason: client whitelist (whitelist_clients:1 white.test)\n"));
    const Run recipient = setup.run({"whitelist-check", "192.0.2.1", "unknown", "z@zz.test", "postmaster@bar.test"});
    CHECK(contains(recipient.output, "reason: recipient whitelist (whitelist_recipients:1 postmaster@)\n"));

    // Nothing was written: the same three triplets, the waiting one still waiting.
    const Run dump = setup.run({"dump"});
    CHECK(lines_of(dump.output).size() == 3);
    CHECK(lines_with(dump.output, "198.51.100.0 <> c@bar.test")[0].ends_with(" waiting"));
    CHECK(lines_with(dump.output, "192.0.2.").empty());
  }

  SUBCASE("delete: the daemon no longer knows what was deleted") {
    const Run dry = setup.run({"delete", "--dry-run", "--triplet", "198.51.100.9", "", "c@bar.test"});
    CHECK(dry.status == 0);
    CHECK(contains(dry.output, "would delete 1 entries (1 triplets, 0 client entries)"));
    const Run one = setup.run({"delete", "--triplet", "198.51.100.9", "", "c@bar.test"});
    CHECK(one.status == 0);
    CHECK(contains(one.output, "deleted 1 entries (1 triplets, 0 client entries)"));
    // Past its delay it would pass; deleted, it is new again.
    CHECK(is_greylist(client.policy(request("198.51.100.9", "", "c@bar.test"))));

    const Run network = setup.run({"delete", "--client-net", "203.0.113.200"});
    CHECK(network.status == 0);
    // The client counter, the sender-domain counter and the triplet.
    CHECK(contains(network.output, "deleted 3 entries (1 triplets, 2 client entries)"));
    // No auto-whitelist and no triplet any more: greylisted as new.
    CHECK(is_greylist(client.policy(request("203.0.113.7", "a@foo.test", "b@bar.test"))));

    const Run nothing = setup.run({"delete", "--client-net", "192.0.2.1"});
    CHECK(nothing.status == 1);
    CHECK(contains(nothing.output, "nothing matched"));
    const Run by_key = setup.run({"delete", "--key", "t1:10:2001:db8::10:x@foo.test10:d@bar.test"});
    CHECK_MESSAGE(by_key.status == 0, by_key.output);
    CHECK(lines_with(setup.run({"dump"}).output, "2001:db8::").empty());
  }

  SUBCASE("check: healthy") {
    const Run check = setup.run({"check"});
    CHECK(check.status == 0);
    CHECK(contains(check.output, "policy inet:127.0.0.1:" + std::to_string(setup.port) +
                                     ": ok (action=DUNNO, "));
    CHECK(contains(check.output, "milter inet:127.0.0.1:" + std::to_string(setup.milter_port) +
                                     ": ok (negotiated version 6"));
    // The probe recorded nothing.
    CHECK(lines_of(setup.run({"dump"}).output).size() == 3);
  }

  // Whatever the subcase did, the daemon still serves and every file in
  // its directory is still its own.
  CHECK(client.policy(request("192.0.2.77", "q@foo.test", "q@bar.test")));
  CHECK(setup.files_not_owned_by_dir_owner().empty());
  CHECK(setup.daemon.log().find("error") == std::string::npos);

  // With the daemon stopped the tool owns the directory itself, and the
  // daemon starts again afterwards.
  setup.stop();
  const Run dump = setup.run({"dump"});
  CHECK(dump.status == 0);
  CHECK(lines_of(dump.output).size() >= 2);
  const Run expire = setup.run({"expire"});
  CHECK(expire.status == 0);
  CHECK(contains(expire.output, "removed 0 expired and 0 undecodable"));
  CHECK(setup.files_not_owned_by_dir_owner().empty());
  setup.start();
  LineClient again(setup.port);
  CHECK(again.policy(request("192.0.2.78", "q@foo.test", "q@bar.test")));
}

TEST_CASE("expire removes what is past its lifetime and stats counted it") {
  const TempDir scratch("greylistctl-expire");
  const std::string& dir = scratch.path();
  {
    greylist::BdbOptions options;
    options.directory = dir;
    options.cache_bytes = 1024 * 1024;
    auto store = greylist::BdbStore::open(options);
    REQUIRE(store.ok());
    const greylist::EpochSeconds now = std::time(nullptr);
    // Waiting for 3 days (retry window 2 days): expired.
    REQUIRE(store.value()->put(greylist::Table::kTriplets,
                               greylist::encode_triplet_key("192.0.2.0", "a@b.test", "c@d.test"),
                               greylist::encode_triplet({now - 3 * 86400, now - 3 * 86400, false, 0}), 0).ok());
    // Passed and seen yesterday: kept.
    REQUIRE(store.value()->put(greylist::Table::kTriplets,
                               greylist::encode_triplet_key("192.0.2.0", "e@b.test", "c@d.test"),
                               greylist::encode_triplet({now - 86400, now - 86400, true, 0}), 0).ok());
    // A client last seen 40 days ago (max age 35): expired.
    REQUIRE(store.value()->put(greylist::Table::kClients, greylist::encode_client_key("192.0.2.0"),
                               greylist::encode_client({3, now - 40 * 86400}), 0).ok());
    REQUIRE(store.value()->put(greylist::Table::kTriplets, "junk", "not a record", 0).ok());
  }
  const std::vector<std::string> base{"--config", "/dev/null", "--dbdir", dir};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), base.begin(), base.end());
    return ctl(args);
  };
  const Run stats = with({"stats"});
  CHECK(stats.status == 0);
  CHECK(contains(stats.output, "triplets: 2 (passed 1, waiting 1)\n"));
  CHECK(contains(stats.output, "expired, not yet removed: 2\n"));
  CHECK(contains(stats.output, "undecodable entries: 1\n"));
  const Run expire = with({"expire"});
  CHECK(expire.status == 0);
  CHECK(contains(expire.output, "scanned 4 entries, removed 2 expired and 1 undecodable\n"));
  const Run after = with({"stats"});
  CHECK(contains(after.output, "triplets: 1 (passed 1, waiting 0)\n"));
  CHECK(contains(after.output, "clients: 0 "));
  const Run dump = with({"dump"});
  CHECK(dump.output.rfind("192.0.2.0 e@b.test c@d.test ", 0) == 0);
}

TEST_CASE("bad arguments: a usage line on stderr and status 2; --help and --version: 0") {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"--bogus", "dump"},
      {"--dbdir"},
      {"dump", "--bogus"},
      {"dump", "extra"},
      {"clients", "--auto-whitelist-clients", "many"},
      {"whitelist-check", "192.0.2.1"},
      {"whitelist-check", "not-an-address", "unknown", "a@b.test", "c@d.test"},
      {"whitelist-check", "192.0.2.1", "unknown", "a@b.test", "c@d.test", "extra"},
      {"delete"},
      {"delete", "--triplet", "192.0.2.1", "a@b.test"},
      {"delete", "--client-net", "nowhere"},
      {"delete", "--key", "not-a-key"},
      {"check", "--timeout", "0"},
      {"check", "--policy", "ftp:somewhere"},
      {"import-postgrey"},
      {"--config", "/nonexistent/greylist.conf", "stats"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const auto& a : args) joined += " '" + a + "'";
    CAPTURE(joined);
    const Run run = ctl(args);
    CHECK(run.status == 2);
    CHECK(contains(run.output, "usage: greylistctl [--dbdir DIR] [--config FILE] "));
  }
  const Run help = ctl({"--help"});
  CHECK(help.status == 0);
  for (const char* command : {"clients", "dump", "whitelist-check", "delete", "expire", "stats",
                              "check", "import-postgrey"}) {
    CHECK(contains(help.output, std::string("  ") + command + " "));
  }
  CHECK(ctl({"dump", "--help"}).status == 0);
  const Run version = ctl({"--version"});
  CHECK(version.status == 0);
  CHECK(version.output.rfind("greylistctl ", 0) == 0);
  // A database directory that does not exist is a failure, not a usage error.
  const Run missing = ctl({"--config", "/dev/null", "--dbdir", "/nonexistent/db", "dump"});
  CHECK(missing.status == 1);
  CHECK(contains(missing.output, "/nonexistent/db does not exist"));
}

TEST_CASE("check: a stopped daemon fails at once, garbage and silence fail too") {
  const int closed_port = free_loopback_port();
  const auto started = std::chrono::steady_clock::now();
  const Run stopped = ctl({"check", "--policy", "inet:127.0.0.1:" + std::to_string(closed_port),
                           "--milter", "inet:127.0.0.1:" + std::to_string(closed_port)});
  CHECK(stopped.status == 1);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(lines_with(stopped.output, ": FAILED (connect: Connection refused").size() == 2);

  FakeServer garbage("HTTP/1.0 400 Bad Request\r\n\r\n");
  const std::string at = "inet:127.0.0.1:" + std::to_string(garbage.port());
  const Run policy = ctl({"check", "--policy", at});
  CHECK(policy.status == 1);
  CHECK(contains(policy.output, "policy " + at + ": FAILED ("));
  const Run milter = ctl({"check", "--milter", at});
  CHECK(milter.status == 1);
  CHECK(contains(milter.output, "milter " + at + ": FAILED (unexpected reply"));

  // A policy server answering something else than DUNNO is unhealthy too.
  FakeServer defer("action=DEFER_IF_PERMIT Greylisted\n\n");
  const Run deferred = ctl({"check", "--policy", "127.0.0.1:" + std::to_string(defer.port())});
  CHECK(deferred.status == 1);
  CHECK(contains(deferred.output, "unexpected reply \"action=DEFER_IF_PERMIT Greylisted"));

  FakeServer silent("");
  const std::string quiet = "inet:127.0.0.1:" + std::to_string(silent.port());
  const auto waited = std::chrono::steady_clock::now();
  const Run timeout = ctl({"check", "--timeout", "300", "--policy", quiet, "--milter", quiet});
  CHECK(timeout.status == 1);
  CHECK(std::chrono::steady_clock::now() - waited < 5s);
  CHECK(lines_with(timeout.output, "within the timeout").size() == 2);
}

}  // TEST_SUITE

TEST_CASE("check-rules: a good file, the first error as FILE:LINE, no daemon or config needed") {
  const TempDir scratch("check-rules");
  const std::string dir = scratch.path();
  const std::string good = dir + "/rules";
  {
    std::ofstream out(good);
    out << "list \"local\" addr { 192.0.2.0/24 }\n"
           "dnsrbl \"dnswl\" list.dnswl.example 127.0.10.0/24\n"
           "racl whitelist list \"local\"\n"
           "racl whitelist dnsrbl \"dnswl\"\n"
           "racl greytrap rcpt trap@example.net\n"
           "racl greylist default delay 10m\n";
  }
  const Run ok = ctl({"--config", "/nonexistent/greylist.conf", "check-rules", good});
  CHECK(ok.status == 0);
  CHECK(ok.output == good + ": ok: 4 rules, 1 lists, 1 DNS lists, greytraps\n");

  const std::string bad = dir + "/bad";
  {
    std::ofstream out(bad);
    out << "racl whitelist addr 10.0.0.0/8\n\nracl blacklist rcptcount >= 25\n";
  }
  const Run failed = ctl({"check-rules", bad});
  CHECK(failed.status == 1);
  CHECK(contains(failed.output, "greylistctl: check-rules: " + bad + ":3: 'rcptcount' is not supported"));

  const Run missing = ctl({"check-rules", dir + "/none"});
  CHECK(missing.status == 1);
  CHECK(contains(missing.output, dir + "/none: No such file or directory"));
  CHECK(ctl({"check-rules"}).status == 2);
  CHECK(ctl({"check-rules", good, "extra"}).status == 2);
}

TEST_CASE("greytraps and rules: list-traps, delete-trap, whitelist-check names the rule, the trap "
          "and each DNS list's answer") {
  using greylist::encode_greytrap_key;
  using greylist::encode_trap;
  const TempDir scratch("greylistctl-traps");
  const std::string dir = scratch.path();
  const std::string db = dir + "/db";
  std::filesystem::create_directory(db);
  const greylist::EpochSeconds now = std::time(nullptr);
  {
    greylist::BdbOptions options;
    options.directory = db;
    options.cache_bytes = 1024 * 1024;
    auto store = greylist::BdbStore::open(options);
    REQUIRE(store.ok());
    auto& s = *store.value();
    REQUIRE(s.put(greylist::Table::kClients, encode_greytrap_key("198.51.100.0"),
                  encode_trap({now - 600, now + 3000}), 0).ok());
    REQUIRE(s.put(greylist::Table::kClients, encode_greytrap_key("2001:db8:1::"),
                  encode_trap({now - 9000, now - 10}), 0).ok());
  }
  DnsmasqZones zones;
  zones.records = {{"7.2.0.192.wl.test", "127.0.10.2"}};
  zones.local_zones = {"wl.test"};
  DnsmasqServer dns(zones);
  std::ofstream(dir + "/rules") << "dnsrbl \"wl\" wl.test 127.0.10.0/24\n"
                                   "racl \"dnswl\" whitelist dnsrbl \"wl\"\n"
                                   "racl \"trap\" greytrap rcpt trap@bar.test\n"
                                   "racl greylist rcpt @slow.test delay 20m\n"
                                   "racl \"staff\" greylist auth carol delay 30m\n";
  const std::string config = dir + "/greylist-milter.conf";
  std::ofstream(config) << "dbdir = " << db << "\nrules = " << dir << "/rules\n"
                        << "dns-server = " << dns.address() << "\ndns-timeout = 2000\n"
                        << "pool-by-spf = no\n";
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config});
    return ctl(args);
  };
  const auto iso = [](greylist::EpochSeconds t) {
    char text[32];
    const std::time_t time = t;
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&time));
    return std::string(text);
  };

  const Run traps = run({"list-traps"});
  CHECK(traps.status == 0);
  // Each network with its prefix length (the stored key has none).
  CHECK(traps.output == "198.51.100.0/24 " + iso(now - 600) + " " + iso(now + 3000) + "\n");
  const Run all = run({"list-traps", "--all", "--json"});
  CHECK(lines_of(all.output).size() == 2);
  CHECK(contains(all.output, "{\"network\":\"2001:db8:1::/64\",\"trapped_at\":"));
  CHECK(contains(run({"stats"}).output, "greytrapped networks: 1\n"));

  const Run trapped = run({"whitelist-check", "198.51.100.9", "unknown", "a@foo.test", "b@slow.test"});
  CHECK(trapped.status == 0);
  CHECK(contains(trapped.output, "decision: greylist\nreason: greytrap (198.51.100.0/24)\n"));
  CHECK(contains(trapped.output, "greytrap: 198.51.100.0/24: trapped since " + iso(now - 600)));
  const Run ruled = run({"whitelist-check", "203.0.113.5", "unknown", "a@foo.test", "b@slow.test"});
  CHECK(contains(ruled.output, "reason: new\nrule: " + dir + "/rules:4\nseconds left: 1200\n"));
  CHECK(contains(ruled.output, "5.113.0.203.wl.test: not listed"));
  const Run listed = run({"whitelist-check", "192.0.2.7", "unknown", "a@foo.test", "b@slow.test"});
  // The rule named once, on its own line.
  CHECK(contains(listed.output, "decision: pass (whitelisted)\nreason: rule whitelist\nrule: " +
                                    dir + "/rules:2 (dnswl)\n"));
  CHECK(contains(listed.output, "dnsrbl \"wl\": 7.2.0.192.wl.test: listed (127.0.10.2)"));
  const Run hit = run({"whitelist-check", "203.0.113.5", "unknown", "a@foo.test", "trap@bar.test"});
  CHECK(contains(hit.output, "reason: greytrap\nrule: " + dir + "/rules:3 (trap)\n"));
  // SMTP AUTH: only the rules that name auth apply (not the DNS whitelist).
  const Run alice = run({"whitelist-check", "--auth", "alice", "192.0.2.7", "unknown", "a@foo.test",
                         "b@slow.test"});
  CHECK(contains(alice.output, "decision: pass (whitelisted)\nreason: SMTP AUTH\n"
                               "SMTP AUTH: alice: no rule naming auth matched\n"));
  CHECK_FALSE(contains(alice.output, "dnsrbl"));
  const Run carol = run({"whitelist-check", "--auth", "carol", "192.0.2.7", "unknown", "a@foo.test",
                         "b@slow.test"});
  CHECK(contains(carol.output, "reason: new\nrule: " + dir + "/rules:5 (staff)\nseconds left: 1800\n"
                               "SMTP AUTH: carol: a rule naming auth matched (only those apply)\n"));
  const Run other = run({"whitelist-check", "--rules", "", "198.51.100.9", "unknown", "a@foo.test",
                         "b@slow.test"});
  CHECK(contains(other.output, "reason: new\n"));
  CHECK(contains(other.output, "rules: none loaded"));

  const Run dry = run({"delete-trap", "--dry-run", "198.51.100.77"});
  CHECK(dry.status == 0);
  CHECK(dry.output == "would delete the trap of 198.51.100.0/24\n");
  // The network as list-traps prints it.
  const Run deleted = run({"delete-trap", "198.51.100.0/24"});
  CHECK(deleted.status == 0);
  CHECK(deleted.output == "deleted the trap of 198.51.100.0/24\n");
  CHECK(run({"list-traps"}).output.empty());
  const Run again = run({"delete-trap", "198.51.100.0"});
  CHECK(again.status == 1);
  CHECK(contains(again.output, "198.51.100.0/24 is not trapped"));
  CHECK(run({"delete-trap"}).status == 2);
  CHECK(run({"delete-trap", "nowhere"}).status == 2);
  CHECK(run({"list-traps", "extra"}).status == 2);
}

TEST_CASE("whitelist-check with --pool-by-spf shows the SPF result and the triplet's key") {
  const TempDir scratch("greylistctl-spf");
  const std::string dir = scratch.path();
  const std::string db = dir + "/db";
  std::filesystem::create_directory(db);
  DnsmasqZones zones;
  zones.txt_records = {{"pool.test", {"v=spf1 ip4:192.0.2.0/24 -all"}},
                       {"all.pool.test", {"v=spf1 +all"}}};
  zones.local_zones = {"pool.test"};
  DnsmasqServer dns(zones);
  const std::string config = dir + "/greylist-milter.conf";
  std::ofstream(config) << "dbdir = " << db << "\npool-by-spf = yes\npool-by-domain = no\n"
                        << "dns-server = " << dns.address() << "\ndns-timeout = 2000\n";
  const auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", config});
    return ctl(args);
  };
  const Run pass = run({"whitelist-check", "192.0.2.7", "unknown", "a@pool.test", "b@bar.test"});
  CHECK(pass.status == 0);
  CHECK(contains(pass.output, "spf: pass for pool.test ("));
  CHECK(contains(pass.output, "key: pool:spf:pool.test\n"));
  CHECK(contains(pass.output, "triplet (pool:spf:pool.test, "));
  CHECK(contains(pass.output, "domain AWL: pool.test from the addresses its SPF authorizes: "));
  const Run fail = run({"whitelist-check", "203.0.113.5", "unknown", "a@pool.test", "b@bar.test"});
  CHECK(contains(fail.output, "spf: fail for pool.test ("));
  CHECK(contains(fail.output, "key: 203.0.113.0\n"));
  CHECK(contains(fail.output, "domain AWL: pool.test from 203.0.113.0: "));
  // A pass through +all is still a pass, but no sender pool: keyed by network.
  const Run all = run({"whitelist-check", "198.51.100.9", "unknown", "a@all.pool.test", "b@bar.test"});
  CHECK(contains(all.output, "spf: pass for all.pool.test (all.pool.test +all; +all: not a sender pool)\n"));
  CHECK(contains(all.output, "key: 198.51.100.0\n"));
  const Run bounce = run({"whitelist-check", "192.0.2.7", "unknown", "", "b@bar.test"});
  CHECK(contains(bounce.output, "spf: not checked (null sender)\nkey: 192.0.2.0\n"));
  // Off: no SPF line.
  std::ofstream(config) << "dbdir = " << db << "\npool-by-spf = no\n"
                        << "dns-server = " << dns.address() << "\n";
  CHECK_FALSE(contains(run({"whitelist-check", "192.0.2.7", "unknown", "a@pool.test", "b@bar.test"})
                           .output, "spf:"));
}

TEST_SUITE("greylistctl_settings") {
TEST_CASE("settings only in GREYLIST_MILTER_OPTS of the defaults file: expire, delete --triplet and "
          "whitelist-check use them") {
  // Issue 15: greylistctl read the config file but not what the unit
  // appends from /etc/default/greylist-milter, so with --max-age there
  // `expire` deleted what the daemon still honoured, and with --ipv4cidr or
  // --privacy there `delete --triplet` and `whitelist-check` computed other keys.
  constexpr const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  const TempDir scratch_dir("greylistctl-defaults");
  const std::string dir = scratch_dir.path();
  const std::string defaults = dir + "/greylist-milter.default";
  std::ofstream(defaults) << "# as /etc/default/greylist-milter\n"
                          << "GREYLIST_MILTER_OPTS=\"--max-age 10 --dbdir '" << dir
                          << "/db' --ipv4cidr=16 --privacy --delay 1 --dynamic-delay 0 --pool-by-spf no\"\n";
  std::ofstream(dir + "/empty") << "";
  // whitelist-check's config file: only no SPF check (the machine's DNS).
  std::ofstream(dir + "/no-spf.conf") << "pool-by-spf = no\n";
  {
    // The daemon as the unit starts it: --config FILE $GREYLIST_MILTER_OPTS.
    const int port = free_loopback_port();
    ChildProcess daemon({GREYLIST_MILTER_BINARY, "--config", "/dev/null", "--max-age", "10",
                         "--dbdir", dir + "/db", "--ipv4cidr=16", "--privacy", "--delay", "1",
                         "--dynamic-delay", "0", "--pool-by-spf", "no", "--policy", "inet:127.0.0.1:" + std::to_string(port), "--milter", "none",
                         "--log", "stderr", "--whitelist-clients", dir + "/empty",
                         "--whitelist-recipients", dir + "/empty"},
                        dir + "/daemon.log");
    LineClient client(port, 10s);
    REQUIRE_MESSAGE(client.ok(), daemon.output());
    REQUIRE(is_greylist(client.policy(request("10.1.2.3", "a@s.test", "r@d.test"))));
    REQUIRE(is_greylist(client.policy(request("10.1.2.3", "b@s.test", "r@d.test"))));
    std::this_thread::sleep_for(1100ms);
    REQUIRE_FALSE(is_greylist(client.policy(request("10.1.2.3", "a@s.test", "r@d.test"))));
    daemon.signal(SIGTERM);
    REQUIRE(daemon.wait_for_exit(5s));
  }
  const auto with = [&](const std::string& defaults_file, std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", dir + "/no-spf.conf", "--defaults", defaults_file});
    return ctl(args);
  };
  // Without the defaults file (but its --dbdir): /24, no privacy: not found.
  const std::vector<std::string> check = {"whitelist-check", "10.1.77.7", "unknown", "b@s.test", "r@d.test"};
  std::vector<std::string> check_there = check;
  check_there.insert(check_there.begin(), {"--dbdir", dir + "/db"});
  CHECK(contains(with(dir + "/none", check_there).output, "decision: greylist\nreason: new\n"));
  const Run known = with(defaults, check);
  // With it: 10.1.0.0/16, hashed with the daemon's key: its waiting triplet,
  // past the delay now.
  CHECK_MESSAGE(contains(known.output, "decision: pass\nreason: triplet found\n"), known.output);

  const Run deleted = with(defaults, {"delete", "--triplet", "10.1.99.1", "b@s.test", "r@d.test"});
  CHECK_MESSAGE(contains(deleted.output, "deleted 1 entries (1 triplets"), deleted.output);

  if (access(kFaketime, R_OK) != 0) {
    MESSAGE("libfaketime missing: the expire part skipped");
  } else {
    // Fifteen days on: past --max-age 10 of the defaults file, within 35.
    setenv("FAKETIME", "+15d", 1);
    setenv("LD_PRELOAD", kFaketime, 1);
    const Run daemon_default = ctl({"--config", "/dev/null", "--defaults", dir + "/none", "--dbdir",
                                    dir + "/db", "expire"});
    const Run from_defaults = with(defaults, {"expire"});
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME");
    CHECK_MESSAGE(contains(daemon_default.output, "removed 0 expired"), daemon_default.output);
    // The passed triplet, the client's and the sender domain's counters.
    CHECK_MESSAGE(contains(from_defaults.output, "scanned 3 entries, removed 3 expired"),
                  from_defaults.output);
  }
  // Its own --dbdir still wins over the defaults file's.
  const Run elsewhere = with(defaults, {"--dbdir", dir + "/other", "stats"});
  CHECK(contains(elsewhere.output, dir + "/other"));
}
TEST_CASE("check-whitelists reports every line the daemon skips, status 1; clean lists: 0") {
  const TempDir scratch_dir("greylistctl-check-whitelists");
  const std::string dir = scratch_dir.path();
  std::ofstream(dir + "/clients") << "good.example\nbad host name\n/(unclosed/\n";
  std::ofstream(dir + "/recipients") << "postmaster@\n";
  std::ofstream(dir + "/conf") << "whitelist-clients = " << dir << "/clients\n"
                               << "whitelist-recipients = " << dir << "/recipients\n";
  const Run bad = ctl({"--config", dir + "/conf", "--defaults", dir + "/none", "check-whitelists"});
  CHECK(bad.status == 1);
  CHECK(contains(bad.output, dir + "/clients:2: doesn't look like a hostname: skipped\n"));
  CHECK(contains(bad.output, dir + "/clients:3: bad regex"));
  CHECK(contains(bad.output, "1 client rules, 1 recipient rules, 2 lines skipped\n"));
  std::ofstream(dir + "/clients") << "good.example\n";
  const Run good = ctl({"--config", dir + "/conf", "--defaults", dir + "/none", "check-whitelists"});
  CHECK(good.status == 0);
  CHECK(contains(good.output, "1 client rules, 1 recipient rules, 0 lines skipped\n"));
}
}  // TEST_SUITE
