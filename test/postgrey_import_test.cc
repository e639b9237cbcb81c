// greylistctl import-postgrey: postgrey's key and value formats (tables),
// the conversion into a store (merging, expiry, skips), and the whole path
// on databases written by the real postgrey (Debian's /usr/sbin/postgrey,
// installed by scripts/test-packages.txt): started on a loopback port with
// a temporary --dbdir, fed policy requests, stopped, imported; then our
// daemon answers from the imported database.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/fake_clock.h"
#include "support/line_client.h"
#include "support/temp_dir.h"
#include "tools/postgrey_import.h"

using namespace greylist;
using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPostgrey = "/usr/sbin/postgrey";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> lines_with(const std::string& text, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (contains(line, needle)) out.push_back(line);
  }
  return out;
}

struct Run {
  int status = -1;
  std::string output;
};

Run ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{GREYLISTCTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Run run;
  const int status = run_program(argv, run.output, 60s);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::int64_t epoch_field(const std::string& line, const std::string& name) {
  const std::string label = "\"" + name + "\":";
  const auto at = line.find(label);
  REQUIRE(at != std::string::npos);
  return std::stoll(line.substr(at + label.size()));
}

std::string request(const std::string& client, const std::string& name, const std::string& sender,
                    const std::string& recipient) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=" + name + "\nsender=" + sender + "\nrecipient=" + recipient + "\n";
}

bool is_greylist(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT ", 0) == 0;
}
bool is_prepend(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=PREPEND X-Greylist: ", 0) == 0;
}

// Debian's package starts a system postgrey (port 10023) when apt installs
// it; the tests must not leave one running.
void stop_system_postgrey() {
  for (const char* pidfile : {"/run/postgrey.pid", "/var/run/postgrey.pid"}) {
    std::ifstream in(pidfile);
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 1 || ::kill(pid, 0) != 0) continue;
    std::string out;
    run_program({"/etc/init.d/postgrey", "stop"}, out, 40s);
    MESSAGE("stopped the system postgrey service: " << out);
    return;
  }
}

// A postgrey on 127.0.0.1 with its own --dbdir (owned by the postgrey
// user, which it drops to when started as root).
class Postgrey {
 public:
  Postgrey(const std::string& dir, const std::vector<std::string>& extra) : dir_(dir) {
    const passwd* user = ::getpwnam("postgrey");
    REQUIRE_MESSAGE(user != nullptr, "the postgrey package creates the postgrey user");
    REQUIRE(::mkdir((dir + "/postgrey").c_str(), 0700) == 0);
    REQUIRE(::chown((dir + "/postgrey").c_str(), user->pw_uid, user->pw_gid) == 0);
    std::ofstream(dir + "/empty") << "";
    port_ = free_loopback_port();
    std::vector<std::string> argv{kPostgrey,
                                  "--inet=127.0.0.1:" + std::to_string(port_),
                                  "--dbdir=" + dir + "/postgrey",
                                  "--delay=1",
                                  "--whitelist-clients=" + dir + "/empty",
                                  "--whitelist-recipients=" + dir + "/empty"};
    if (::geteuid() == 0) {
      const group* g = ::getgrgid(user->pw_gid);
      argv.push_back("--user=postgrey");
      argv.push_back(std::string("--group=") + (g != nullptr ? g->gr_name : "postgrey"));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(argv, dir + "/postgrey.log");
    client_ = std::make_unique<LineClient>(port_, 20s);
    REQUIRE_MESSAGE(client_->ok(), process_->output());
  }
  LineClient& client() { return *client_; }
  std::string db() const { return dir_ + "/postgrey"; }
  // SIGTERM, as its init script stops it (Net::Server's select loop now and
  // then misses one: then again, then SIGKILL, after which its committed
  // transactions are still in its log, for the import's recovery). True once
  // it has exited.
  bool stop() {
    client_.reset();
    for (const int signal_number : {SIGTERM, SIGTERM, SIGKILL}) {
      process_->signal(signal_number);
      if (process_->wait_for_exit(5s)) return true;
      MESSAGE("postgrey still running 5 s after signal " << signal_number);
    }
    return false;
  }
  std::string log() const { return process_->output(); }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::unique_ptr<LineClient> client_;
};

}  // namespace

TEST_SUITE("postgrey_import") {

TEST_CASE("postgrey triplet keys: the split rule, masks, IPv6, '/' in addresses") {
  struct Row {
    std::string key;
    bool ok;
    std::string client, sender, recipient;
    bool host_mask;
  };
  const std::vector<Row> rows = {
      {"203.0.113.0/a@foo.test/b@bar.test", true, "203.0.113.0", "a@foo.test", "b@bar.test", false},
      {"203.0.113.7/32/a@foo.test/b@bar.test", true, "203.0.113.7", "a@foo.test", "b@bar.test", true},
      {"2a00:1:2:3:0:0:0:0/bounce-#-#@list.test/v6@x.test", true, "2a00:1:2:3:0:0:0:0",
       "bounce-#-#@list.test", "v6@x.test", false},
      {"2001:db8:0:0:0:0:0:1/128/s@x.test/r@y.test", true, "2001:db8:0:0:0:0:0:1", "s@x.test",
       "r@y.test", true},
      // The null sender: "net//rcpt".
      {"198.51.100.0//n@x.test", true, "198.51.100.0", "", "n@x.test", false},
      {"198.51.100.7/32//n@x.test", true, "198.51.100.7", "", "n@x.test", true},
      // A '/' in the sender stays in the sender (the recipient is after the last '/').
      {"192.0.2.0/a/b@x.test/r@y.test", true, "192.0.2.0", "a/b@x.test", "r@y.test", false},
      // "32" followed by no further '/' is a sender, not a mask.
      {"192.0.2.0/32/r@y.test", true, "192.0.2.0", "32", "r@y.test", false},
      // An IPv4 key's "128" is never a mask.
      {"192.0.2.0/128/s@x/r@y", true, "192.0.2.0", "128/s@x", "r@y", false},
      // Documented ambiguity: a '/' in the recipient's local part moves the split.
      {"192.0.2.0/s@x.test/a/b@y.test", true, "192.0.2.0", "s@x.test/a", "b@y.test", false},
      // Not postgrey triplet keys.
      {"0123456789abcdef0123456789abcdef01234567", false, "", "", "", false},  // --privacy
      {"not-an-address/s@x/r@y", false, "", "", "", false},
      {"192.0.2.0/s@x/", false, "", "", "", false},
      {"192.0.2.0/no-second-slash", false, "", "", "", false},
      {"/s@x/r@y", false, "", "", "", false},
      {"", false, "", "", "", false},
  };
  for (const Row& row : rows) {
    CAPTURE(row.key);
    const auto parsed = parse_postgrey_triplet_key(row.key);
    REQUIRE(parsed.has_value() == row.ok);
    if (!parsed) continue;
    CHECK(parsed->client_address == row.client);
    CHECK(parsed->sender == row.sender);
    CHECK(parsed->recipient == row.recipient);
    CHECK(parsed->host_mask == row.host_mask);
  }
}

TEST_CASE("postgrey values: first,last[,host] and count,last") {
  const auto times = parse_postgrey_triplet_value("1795590188,1795590799");
  REQUIRE(times);
  CHECK(times->first == 1795590188);
  CHECK(times->last == 1795590799);
  CHECK(parse_postgrey_triplet_value("10,20,mail.foo.test")->last == 20);
  for (const char* bad : {"", "10", "10,", ",20", "a,b", "-1,5", "10,20x", "1e3,5"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_postgrey_triplet_value(bad));
  }
  const auto client = parse_postgrey_client_value("5,1795590795");
  REQUIRE(client);
  CHECK(client->count == 5);
  CHECK(client->last == 1795590795);
  CHECK_FALSE(parse_postgrey_client_value("99999999999,1"));
  CHECK_FALSE(parse_postgrey_client_value("x,1"));
}

TEST_CASE("the conversion: our keys, passed by postgrey's delay, merging, expiry, skips") {
  MemoryStore store;
  FakeClock clock(2'000'000'000);
  GreylistConfig config;  // our defaults: /24, /64, retry window 2 days, max age 35 days
  const Greylister keys(config, store, clock);
  const EpochSeconds now = clock.now();
  const auto value = [](EpochSeconds first, EpochSeconds last) {
    return std::to_string(first) + "," + std::to_string(last);
  };
  PostgreyDatabase db;
  db.triplets = {
      {"203.0.113.0/a@foo.test/b@bar.test", value(now - 1000, now - 400)},  // passed (600 >= 300)
      {"198.51.100.0//n@x.test", value(now - 100, now - 100)},               // waiting
      // Two hosts of one /24 (postgrey --lookup-by-host): one of our keys.
      {"192.0.2.7/32/s@x.test/r@y.test", value(now - 5000, now - 5000)},
      {"192.0.2.8/32/s@x.test/r@y.test", value(now - 4000, now - 3000)},
      {"2a00:1:2:3:0:0:0:0/v@x.test/w@y.test", value(now - 50, now)},     // waiting (50 < 300)
      {"192.0.2.0/old@x.test/r@y.test", value(now - 3 * 86400, now - 3 * 86400)},  // expired window
      {"192.0.2.0/gone@x.test/r@y.test", value(now - 40 * 86400, now - 36 * 86400)},  // max age
      {"0123456789abcdef0123456789abcdef01234567", value(now, now)},
      {"0:0:0:0:0:0:0:0/mapped@x.test/r@y.test", value(now, now)},
      {"garbage", value(now, now)},
      {"192.0.2.0/s@x.test/bad-value@y.test", "soon"},
  };
  db.clients = {
      {"203.0.113.7", "3,1999990000"},
      {"203.0.113.8", "4,1999999000"},                 // same /24: 7 in all
      {"2A00:1:2:3:4:0:0:1", "1,1999999999"},           // postgrey's upper-case expansion
      {"198.51.100.1", std::to_string(2) + "," + std::to_string(now - 40 * 86400)},  // expired
      {"0123456789abcdef0123456789abcdef01234567", "9,1999999999"},
      {"nonsense", "1,1"},
      {"192.0.2.1", "x"},
  };
  const std::atomic<bool> interrupted{false};
  const PostgreyImport import(keys, store, 300, now);

  auto dry = import.run(db, true, interrupted);
  REQUIRE(dry.ok());
  CHECK(store.count(Table::kTriplets).value() == 0);
  CHECK(dry.value().triplets_imported == 4);

  auto report = import.run(db, false, interrupted);
  REQUIRE(report.ok());
  const ImportReport& r = report.value();
  CHECK(r.triplets_read == 11);
  CHECK(r.triplets_imported == 4);
  CHECK(r.triplets_passed == 2);  // 203.0.113.0, and the 192.0.2.0 pair (one of them passed)
  CHECK(r.triplets_merged == 0);
  CHECK(r.triplets_expired == 2);
  CHECK(r.triplets_skipped.at("postgrey --privacy hash") == 1);
  CHECK(r.triplets_skipped.at("IPv4-mapped client (postgrey's ::)") == 1);
  CHECK(r.triplets_skipped.at("unparsable key") == 1);
  CHECK(r.triplets_skipped.at("unparsable value") == 1);
  CHECK(r.clients_read == 7);
  CHECK(r.client_networks == 2);
  CHECK(r.clients_expired == 1);
  CHECK(r.clients_skipped.at("postgrey --privacy hash") == 1);
  CHECK(r.clients_skipped.at("unparsable address") == 1);
  CHECK(r.clients_skipped.at("unparsable value") == 1);

  const auto triplet = [&](const char* net, const char* sender, const char* rcpt) {
    auto got = store.get(Table::kTriplets, encode_triplet_key(net, sender, rcpt));
    REQUIRE(got.ok());
    REQUIRE_MESSAGE(got.value(), net << " " << sender << " " << rcpt);
    return decode_triplet(*got.value()).value();
  };
  const TripletRecord passed = triplet("203.0.113.0", "a@foo.test", "b@bar.test");
  CHECK(passed.first_seen == now - 1000);
  CHECK(passed.last_seen == now - 400);
  CHECK(passed.passed);
  CHECK(passed.first_network == record_hash("203.0.113.0", config));
  CHECK_FALSE(triplet("198.51.100.0", "", "n@x.test").passed);
  const TripletRecord merged = triplet("192.0.2.0", "s@x.test", "r@y.test");
  CHECK(merged.first_seen == now - 5000);
  CHECK(merged.last_seen == now - 3000);
  CHECK(merged.passed);
  CHECK_FALSE(triplet("2a00:1:2:3::", "v@x.test", "w@y.test").passed);

  const auto client = [&](const char* net) {
    auto got = store.get(Table::kClients, encode_client_key(net));
    REQUIRE(got.ok());
    REQUIRE_MESSAGE(got.value(), net);
    return decode_client(*got.value()).value();
  };
  CHECK(client("203.0.113.0").deliveries == 7);
  CHECK(client("203.0.113.0").last_seen == 1999999000);
  CHECK(client("2a00:1:2:3::").deliveries == 1);

  // Importing again changes nothing: every entry merges into itself.
  const auto before = store.scan(Table::kTriplets, "", 100).value();
  auto again = import.run(db, false, interrupted);
  REQUIRE(again.ok());
  CHECK(again.value().triplets_imported == 0);
  CHECK(again.value().triplets_merged == 4);
  CHECK(again.value().client_networks == 0);
  CHECK(again.value().clients_merged == 2);
  const auto after = store.scan(Table::kTriplets, "", 100).value();
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i].value == before[i].value);
  CHECK(client("203.0.113.0").deliveries == 7);

  // --privacy on our side: hashed keys, as the daemon computes them.
  MemoryStore hashed_store;
  GreylistConfig private_config;
  private_config.privacy = true;
  private_config.privacy_key = "0123456789abcdef";
  const Greylister private_keys(private_config, hashed_store, clock);
  const PostgreyImport private_import(private_keys, hashed_store, 300, now);
  REQUIRE(private_import.run(db, false, interrupted).ok());
  Request request;
  request.client_address = "203.0.113.77";
  request.sender = "a@foo.test";
  request.recipient = "b@bar.test";
  auto found = hashed_store.get(Table::kTriplets, private_keys.triplet_key(request));
  REQUIRE(found.ok());
  CHECK(found.value().has_value());
  CHECK(private_keys.triplet_key(request).rfind("t1h:", 0) == 0);
}

TEST_CASE("a database written by the real postgrey, imported; our daemon then lets its senders pass") {
  if (::access(kPostgrey, X_OK) != 0) {
    MESSAGE("postgrey is not installed (scripts/test-packages.txt installs it): skipped");
    return;
  }
  stop_system_postgrey();
  const greylist::testing::TempDir scratch("postgrey-import");
  const std::string& dir = scratch.path();
  const std::string ours = dir + "/ours";
  const std::vector<std::string> base{"--config", "/dev/null", "--dbdir", ours};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), base.begin(), base.end());
    return ctl(args);
  };

  const std::int64_t t0 = std::time(nullptr);
  {
    Postgrey postgrey(dir, {});
    LineClient& client = postgrey.client();
    REQUIRE(is_greylist(client.policy(request("203.0.113.7", "mail.foo.test", "a@foo.test", "b@bar.test"))));
    REQUIRE(is_greylist(client.policy(request("2a00:1:2:3:4::1", "mx.list.test", "bounce-12-34@list.test", "v6@x.test"))));
    REQUIRE(is_greylist(client.policy(request("198.51.100.9", "unknown", "", "n@x.test"))));
    REQUIRE(is_greylist(client.policy(request("192.0.2.5", "unknown", "prvs=0123456789=batv@foo.test", "r@x.test"))));
    std::this_thread::sleep_for(2200ms);
    REQUIRE(is_prepend(client.policy(request("203.0.113.7", "mail.foo.test", "a@foo.test", "b@bar.test"))));
    REQUIRE(is_prepend(client.policy(request("2a00:1:2:3:4::1", "mx.list.test", "bounce-12-34@list.test", "v6@x.test"))));

    // While postgrey runs its files are not consistent: refused.
    const Run busy = with({"import-postgrey", postgrey.db()});
    CHECK(busy.status == 1);
    CHECK(contains(busy.output, "postgrey is running"));
    REQUIRE_MESSAGE(postgrey.stop(), postgrey.log());
  }
  const std::int64_t t1 = std::time(nullptr);

  const Run imported = with({"import-postgrey", "--delay", "1", dir + "/postgrey"});
  CHECK_MESSAGE(imported.status == 0, imported.output);
  CHECK(contains(imported.output, ": 4 triplets, 2 clients\n"));
  CHECK(contains(imported.output, "triplets: imported 4 (passed 2, waiting 2), merged 0"));
  CHECK(contains(imported.output, "clients: imported 2 networks, merged 0"));

  const Run dump = with({"dump", "--json"});
  REQUIRE(dump.status == 0);
  const auto check_line = [&](const std::string& prefix, bool passed) {
    const auto lines = lines_with(dump.output, prefix);
    REQUIRE_MESSAGE(lines.size() == 1, dump.output);
    CHECK(contains(lines[0], passed ? "\"passed\":true" : "\"passed\":false"));
    const auto first = epoch_field(lines[0], "first_seen_epoch");
    const auto last = epoch_field(lines[0], "last_seen_epoch");
    CHECK(first >= t0);
    CHECK(first <= t1);
    CHECK(last >= first + (passed ? 2 : 0));
    CHECK(last <= t1);
  };
  check_line("{\"client\":\"203.0.113.0\",\"sender\":\"a@foo.test\",\"recipient\":\"b@bar.test\"", true);
  check_line("{\"client\":\"2a00:1:2:3::\",\"sender\":\"bounce-#-#@list.test\",\"recipient\":\"v6@x.test\"", true);
  check_line("{\"client\":\"198.51.100.0\",\"sender\":\"\",\"recipient\":\"n@x.test\"", false);
  check_line("{\"client\":\"192.0.2.0\",\"sender\":\"batv@foo.test\",\"recipient\":\"r@x.test\"", false);

  const Run clients = with({"clients", "--all"});
  CHECK(lines_with(clients.output, "203.0.113.0 1 20").size() == 1);
  CHECK(lines_with(clients.output, "2a00:1:2:3:: 1 20").size() == 1);

  // Importing twice changes nothing.
  const Run twice = with({"import-postgrey", "--delay", "1", dir + "/postgrey"});
  CHECK(twice.status == 0);
  CHECK(contains(twice.output, "triplets: imported 0 (passed 0, waiting 0), merged 4"));
  CHECK(with({"dump", "--json"}).output == dump.output);

  // Our daemon on the imported database (with a delay the waiting triplets
  // have served, as they would have under postgrey): the senders that passed
  // postgrey pass at once without a header (they were delayed under
  // postgrey), the waiting ones make their first pass now, with the header.
  {
    DaemonProcess daemon("greylist-import");
    daemon.dbdir = ours;
    REQUIRE_MESSAGE(daemon.start({"--delay", "2"}), daemon.log());
    LineClient client(daemon.policy_port, 10s);
    REQUIRE_MESSAGE(client.ok(), daemon.log());
    CHECK(client.policy(request("203.0.113.7", "unknown", "a@foo.test", "b@bar.test")).value_or("") ==
          "action=DUNNO\n\n");
    CHECK(client.policy(request("2a00:1:2:3:4::1", "unknown", "bounce-77-1@list.test", "v6@x.test"))
              .value_or("") == "action=DUNNO\n\n");
    CHECK(is_prepend(client.policy(request("198.51.100.9", "unknown", "", "n@x.test"))));
    CHECK(is_greylist(client.policy(request("198.51.100.9", "unknown", "new@x.test", "n@x.test"))));
  }

  // postgrey --lookup-by-host: two hosts of one /24 become one triplet here.
  REQUIRE(::mkdir((dir + "/host").c_str(), 0755) == 0);
  {
    Postgrey postgrey(dir + "/host", {"--lookup-by-host"});
    REQUIRE(is_greylist(postgrey.client().policy(request("203.0.113.7", "unknown", "h@foo.test", "r@bar.test"))));
    REQUIRE(is_greylist(postgrey.client().policy(request("203.0.113.8", "unknown", "h@foo.test", "r@bar.test"))));
    REQUIRE_MESSAGE(postgrey.stop(), postgrey.log());
  }
  // Imported while our daemon runs on its database (greylistctl joins it):
  // the daemon knows the triplet at once (an early retry, not a new one).
  {
    DaemonProcess daemon("greylist-import");
    daemon.dbdir = dir + "/host/ours";
    REQUIRE_MESSAGE(daemon.start(), daemon.log());
    LineClient client(daemon.policy_port, 10s);
    REQUIRE_MESSAGE(client.ok(), daemon.log());
    const Run hosts = ctl({"--config", "/dev/null", "--dbdir", dir + "/host/ours", "import-postgrey",
                           "--delay", "1", dir + "/host/postgrey"});
    CHECK_MESSAGE(hosts.status == 0, hosts.output);
    CHECK(contains(hosts.output, ": 2 triplets, 0 clients\n"));
    CHECK(contains(hosts.output, "triplets: imported 1 (passed 0, waiting 1)"));
    const Run host_dump = ctl({"--config", "/dev/null", "--dbdir", dir + "/host/ours", "dump"});
    CHECK(lines_with(host_dump.output, "203.0.113.0 h@foo.test r@bar.test ").size() == 1);
    // A retry within the second of first-seen counts as new: be a second later.
    std::this_thread::sleep_for(1100ms);
    CHECK(is_greylist(client.policy(request("203.0.113.9", "unknown", "h@foo.test", "r@bar.test"))));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!contains(daemon.log(), "client_address=203.0.113.9") &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK_MESSAGE(contains(daemon.log(), "action=greylist, reason=early-retry ("), daemon.log());
    CHECK_FALSE(contains(daemon.log(), "reason=new"));
  }

  // postgrey's own directory was only read.
  struct stat st {};
  CHECK(::stat((dir + "/postgrey/postgrey.db").c_str(), &st) == 0);
  const passwd* user = ::getpwnam("postgrey");
  if (user != nullptr && ::geteuid() == 0) CHECK(st.st_uid == user->pw_uid);
}

}  // TEST_SUITE
