// End-to-end switch from postgrey (issue 15): Debian's postgrey, started
// from a test copy of /etc/default/postgrey as its init script starts it,
// answers a private Postfix's check_policy_service; its state is built
// through Postfix (clients greylisted, passed, auto-whitelisted, one
// whitelisted by a .local entry; a non-default --delay and reply text);
// then it is stopped, `greylistctl migrate-postgrey` carries everything
// over, and the built greylist-milter takes postgrey's socket (Postfix
// unchanged) plus a milter. Shown through Postfix: known passed triplets
// and the auto-whitelisted client pass at once, the .local entry is
// honoured, postgrey's delay and text hold, and nothing postgrey knew is
// greylisted again.
//
// postgrey's auto-whitelist counts a client at most once an hour, so its
// first hour runs under libfaketime (an hour and a bit in the past).
// Needs root, postfix and postgrey (scripts/test-packages.txt); skipped
// with a message without postgrey or libfaketime.
#include <doctest/doctest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/postfix_instance.h"
#include "support/child_process.h"
#include "support/line_client.h"
#include "support/smtp_client.h"
#include "support/temp_dir.h"

namespace greylist::testing::e2e {
namespace {

using Service = PostfixInstance::Service;
using namespace std::chrono_literals;

constexpr const char* kPostgrey = "/usr/sbin/postgrey";
constexpr const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
constexpr int kDelay = 3;  // postgrey's --delay in POSTGREY_OPTS (its default: 300)
constexpr auto kPastDelay = 3500ms;
constexpr const char* kText = "Greylisted by the e2e postgrey, retry in %s seconds";

// The clients (XCLIENT addresses, no verified name).
constexpr const char* kAwlClient = "203.0.113.10";     // passes twice an hour apart: AWL (N=2)
constexpr const char* kPassedClient = "198.51.100.20";  // passed once
constexpr const char* kWaitingClient = "192.0.2.30";    // greylisted, never retried
constexpr const char* kLocalClient = "192.0.2.77";      // in whitelist_clients.local
constexpr const char* kNewClient = "192.0.2.140";       // unknown to postgrey

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

// RCPT's reply (and DATA's when accepted) of one message from `client`.
// The passed client has a verified name (which our --pool-by-domain keys
// on, postgrey's database does not); the others have none.
SmtpReply send(int port, const std::string& client, const std::string& sender,
               const std::string& mailbox) {
  const std::string name = client == std::string(kPassedClient) ? "mx.passed-c.example"
                                                                : "[UNAVAILABLE]";
  SmtpClient smtp(port);
  REQUIRE(smtp.connected());
  REQUIRE(smtp.command("EHLO client.e2e.test").code == 250);
  REQUIRE(smtp.command("XCLIENT ADDR=" + client + " NAME=" + name).code == 220);
  REQUIRE(smtp.command("EHLO client.e2e.test").code == 250);
  REQUIRE(smtp.command("MAIL FROM:<" + sender + ">").code == 250);
  SmtpReply rcpt = smtp.command("RCPT TO:<" + mailbox + "@dest.test>");
  if (rcpt.code == 250) {
    const SmtpReply data =
        smtp.data("From: <" + sender + ">\r\nSubject: migration\r\n\r\nHello from " + client);
    CHECK_MESSAGE(data.code == 250, data.text);
  }
  smtp.command("QUIT");
  return rcpt;
}

bool greylisted(const SmtpReply& rcpt, int seconds_left) {
  return rcpt.code == 450 &&
         contains(rcpt.last_line, "retry in " + std::to_string(seconds_left) + " seconds");
}

// postgrey as Debian's init script runs it: the defaults file sourced by
// sh, $POSTGREY_OPTS split into words, POSTGREY_TEXT as --greylist-text.
class Postgrey {
 public:
  Postgrey(const std::string& root, int port, const char* faketime_offset) {
    std::string command = ". " + root + "/default-postgrey; ";
    if (faketime_offset != nullptr) {
      command += std::string("LD_PRELOAD=") + kFaketime + " FAKETIME=" + faketime_offset +
                 " FAKETIME_DONT_FAKE_MONOTONIC=1 ";
    }
    command += std::string("exec ") + kPostgrey + " $POSTGREY_OPTS --greylist-text=\"$POSTGREY_TEXT\"";
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{"/bin/sh", "-c", command},
                                              root + "/postgrey-" + std::to_string(++runs_) + ".log");
    LineClient probe(port, 20s);
    REQUIRE_MESSAGE(probe.ok(), process_->output());
  }
  // SIGTERM as its init script stops it (then again, then SIGKILL: its
  // committed transactions are in its log either way).
  void stop() {
    for (const int signal_number : {SIGTERM, SIGTERM, SIGKILL}) {
      process_->signal(signal_number);
      if (process_->wait_for_exit(5s)) return;
    }
    FAIL("postgrey does not stop");
  }
  std::string log() const { return process_->output(); }

 private:
  static inline int runs_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// The test's directory, removed at the end (kept with GREYLIST_E2E_KEEP).
struct Directory {
  Directory() : temp("greylist-e2e-migration"), path(temp.path()) {
    temp.keep_if("GREYLIST_E2E_KEEP");
  }
  TempDir temp;
  std::string path;
};

// postgrey's files: a test copy of /etc/default/postgrey naming its own
// whitelists and database (owned by the postgrey user).
void write_postgrey_files(const std::string& root, int port) {
  const std::string etc = root + "/postgrey-etc";
  std::filesystem::create_directories(etc);
  write_file(etc + "/whitelist_clients", "# the test's main list: nothing\n");
  write_file(etc + "/whitelist_clients.local", "# added by the site\n" + std::string(kLocalClient) + "\n");
  write_file(etc + "/whitelist_recipients", "postmaster@\n");
  const passwd* user = getpwnam("postgrey");
  REQUIRE_MESSAGE(user != nullptr, "the postgrey package creates the user postgrey");
  REQUIRE(mkdir((root + "/postgrey-db").c_str(), 0700) == 0);
  REQUIRE(chown((root + "/postgrey-db").c_str(), user->pw_uid, user->pw_gid) == 0);
  write_file(root + "/default-postgrey",
             "# postgrey startup options (test copy)\n"
             "POSTGREY_OPTS=\"--inet=127.0.0.1:" + std::to_string(port) + " --delay=" +
                 std::to_string(kDelay) + " --auto-whitelist-clients=2 --dbdir=" + root +
                 "/postgrey-db --whitelist-clients=" + etc + "/whitelist_clients"
                 " --whitelist-clients=" + etc + "/whitelist_clients.local"
                 " --whitelist-recipients=" + etc + "/whitelist_recipients\"\n"
             "POSTGREY_TEXT=\"" + kText + "\"\n");
}

}  // namespace

TEST_SUITE("postgrey_migration") {
TEST_CASE("switching from postgrey: its state and settings carry over, nothing known is greylisted again") {
  if (access(kPostgrey, X_OK) != 0 || access(kFaketime, R_OK) != 0) {
    MESSAGE("postgrey or libfaketime is not installed (scripts/test-packages.txt): skipped");
    return;
  }
  clean_up_stale_instances();
  ensure_postfix_installed(SOURCE_ROOT);
  Directory dir;
  const std::string& root = dir.path;
  const int policy_port = free_loopback_port();
  const int milter_port = free_loopback_port();
  write_postgrey_files(root, policy_port);
  PostfixInstance::Options options;
  options.root = root + "/postfix";
  std::filesystem::create_directories(options.root);
  options.mailboxes = {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"};
  options.milter_port = milter_port;
  options.policy_port = policy_port;
  PostfixInstance postfix(options);
  const int policy = postfix.port(Service::kPolicy);
  const int milter = postfix.port(Service::kMilter);

  // postgrey's first hour (an hour and a bit ago): two clients pass once.
  {
    Postgrey postgrey(root, policy_port, "-3700s");
    CHECK(greylisted(send(policy, kAwlClient, "a@one.example", "m1"), kDelay));
    CHECK(greylisted(send(policy, kPassedClient, "b@two.example", "m2"), kDelay));
    std::this_thread::sleep_for(kPastDelay);
    CHECK(send(policy, kAwlClient, "a@one.example", "m1").code == 250);
    CHECK(send(policy, kPassedClient, "b@two.example", "m2").code == 250);
    postgrey.stop();
  }
  // Now: the first client passes a second triplet and is auto-whitelisted;
  // one client waits; the .local client passes.
  {
    Postgrey postgrey(root, policy_port, nullptr);
    CHECK(greylisted(send(policy, kAwlClient, "a@three.example", "m3"), kDelay));
    CHECK(greylisted(send(policy, kWaitingClient, "w@four.example", "m4"), kDelay));
    std::this_thread::sleep_for(kPastDelay);
    CHECK(send(policy, kAwlClient, "a@three.example", "m3").code == 250);
    CHECK(send(policy, kAwlClient, "a@five.example", "m5").code == 250);  // AWL
    CHECK(send(policy, kLocalClient, "l@six.example", "m6").code == 250);
    // While postgrey runs its database is not consistent: nothing is written.
    std::string busy;
    run_program({GREYLISTCTL_BINARY, "--dbdir", root + "/db", "migrate-postgrey",
                 "--postgrey-defaults", root + "/default-postgrey", "--postgrey-etc",
                 root + "/postgrey-etc", "--etc", root + "/etc"},
                busy, 60s);
    CHECK_MESSAGE(contains(busy, "postgrey is running"), busy);
    CHECK(contains(busy, "wrote nothing"));
    CHECK_FALSE(std::filesystem::exists(root + "/etc/greylist-milter.conf"));
    postgrey.stop();
    CHECK_MESSAGE(contains(postgrey.log(), std::string("whitelisted: unknown[") + kAwlClient + "]"), postgrey.log());
  }

  // The switch: the package's lists in place, then the migration.
  const std::string etc = root + "/etc";
  std::filesystem::create_directories(etc);
  std::filesystem::copy_file(SOURCE_ROOT "/conf/whitelist_clients", etc + "/whitelist_clients");
  std::filesystem::copy_file(SOURCE_ROOT "/conf/whitelist_recipients", etc + "/whitelist_recipients");
  std::string output;
  const int status = run_program({GREYLISTCTL_BINARY, "--dbdir", root + "/db", "migrate-postgrey",
                                  "--postgrey-defaults", root + "/default-postgrey",
                                  "--postgrey-etc", root + "/postgrey-etc", "--etc", etc},
                                 output, 60s);
  REQUIRE_MESSAGE(WIFEXITED(status), output);
  REQUIRE_MESSAGE(WEXITSTATUS(status) == 0, output);
  CHECK(contains(output, "added delay = 3 (postgrey: --delay=3)"));
  CHECK(contains(output, "added greylist-text = " + std::string(kText)));
  CHECK(contains(output, "whitelist " + etc + "/whitelist_clients.local: copied"));
  CHECK(contains(output, "triplets: imported 4 (passed 3, waiting 1)"));
  CHECK(contains(output, "clients: imported 2 networks"));


  ChildProcess daemon({GREYLIST_MILTER_BINARY, "--config", etc + "/greylist-milter.conf", "--dbdir",
                       root + "/db", "--milter", "inet:127.0.0.1:" + std::to_string(milter_port),
                       "--log", "stderr", "--pool-by-spf", "no"},
                      root + "/daemon.log");
  for (const int port : {policy_port, milter_port}) {
    LineClient probe(port, 10s);
    REQUIRE_MESSAGE(probe.ok(), daemon.output());
  }
  // Known passed triplets, through postgrey's socket and through the milter.
  CHECK(send(policy, kPassedClient, "b@two.example", "m2").code == 250);
  CHECK(send(milter, kPassedClient, "b@two.example", "m2").code == 250);
  // The auto-whitelisted client, with a sender and recipient never seen.
  CHECK(send(policy, kAwlClient, "a@seven.example", "m7").code == 250);
  CHECK(send(milter, kAwlClient, "a@eight.example", "m8").code == 250);
  // The .local entry.
  CHECK(send(milter, kLocalClient, "l@nine.example", "m9").code == 250);
  // The waiting triplet served its delay under postgrey: it passes now.
  CHECK(send(policy, kWaitingClient, "w@four.example", "m4").code == 250);
  // postgrey's delay and text: a new client waits 3 seconds, then passes.
  CHECK(greylisted(send(policy, kNewClient, "n@ten.example", "m1"), kDelay));
  std::this_thread::sleep_for(kPastDelay);
  CHECK(send(policy, kNewClient, "n@ten.example", "m1").code == 250);

  const auto log_deadline = std::chrono::steady_clock::now() + 5s;
  while (!contains(daemon.output(), std::string("client_address=") + kNewClient + ", sender=n@ten") &&
         std::chrono::steady_clock::now() < log_deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const std::string log = daemon.output();
  CHECK_MESSAGE(contains(log, std::string("reason=client AWL, client_name=unknown, client_address=") +
                                  kAwlClient),
                log);
  CHECK(contains(log, std::string("reason=client whitelist")));
  CHECK(contains(log, "whitelist_clients.local:2 " + std::string(kLocalClient)));
  // Greylisted: the new client only, once.
  std::istringstream lines(log);
  int greylist_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!contains(line, "action=greylist")) continue;
    ++greylist_lines;
    CHECK_MESSAGE(contains(line, std::string("reason=new, client_name=unknown, client_address=") + kNewClient), line);
  }
  CHECK(greylist_lines == 1);
  daemon.signal(SIGTERM);
  CHECK(daemon.wait_for_exit(5s));
  postfix.stop();
}
}  // TEST_SUITE

}  // namespace greylist::testing::e2e
