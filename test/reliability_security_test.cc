// Security properties of the running daemon that the process tests do not
// cover already (daemon_process_test.cc checks the uid, the 0700 database
// directory and the unix socket modes): no privileges left after the drop,
// default listeners on loopback only, and --privacy keeping addresses out
// of the database files.
#include <dirent.h>
#include <pwd.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "greylist/greylist_config.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "support/line_client.h"
#include "support/milter_client.h"
#include "support/reliability_support.h"

using namespace greylist::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The inodes of the sockets process `pid` holds.
std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> inodes;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto target = fs::read_symlink(entry.path(), ec);
    const std::string text = target.string();
    if (!ec && text.rfind("socket:[", 0) == 0) inodes.insert(text.substr(8, text.size() - 9));
  }
  return inodes;
}

// "127.0.0.1:10023" for each listening TCP socket of `pid` (IPv4 and IPv6,
// as /proc/PID/net/tcp{,6} show them in the process's network namespace).
std::set<std::string> listening_addresses(pid_t pid) {
  const auto inodes = socket_inodes(pid);
  std::set<std::string> found;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state != "0A" || inodes.count(inode) == 0) continue;  // 0A: LISTEN
      const auto colon = local.find(':');
      const std::string hex_address = local.substr(0, colon);
      const unsigned port = std::stoul(local.substr(colon + 1), nullptr, 16);
      std::string address;
      if (hex_address.size() == 8) {  // IPv4, bytes in host (little-endian) order
        const unsigned long value = std::stoul(hex_address, nullptr, 16);
        address = std::to_string(value & 0xff) + "." + std::to_string(value >> 8 & 0xff) + "." +
                  std::to_string(value >> 16 & 0xff) + "." + std::to_string(value >> 24 & 0xff);
      } else {
        address = "[" + hex_address + "]";  // IPv6: anything here is a finding
      }
      found.insert(address + ":" + std::to_string(port));
    }
  }
  return found;
}

// The 8 bytes a record stores for a 64-bit hash (little-endian).
std::string little_endian(std::uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(value >> (8 * i) & 0xff));
  return bytes;
}

std::vector<std::string> database_files(const std::string& dbdir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dbdir)) {
    const std::string name = entry.path().filename().string();
    if (name == "triplets.db" || name == "clients.db" || name.rfind("log.", 0) == 0) {
      files.push_back(entry.path().string());
    }
  }
  return files;
}

// Drives one client network through greylisting, passing, the client and the
// sender-domain auto-whitelists, on both front ends, so every kind of entry
// is written.
void exercise(DaemonProcess& daemon) {
  LineClient policy(daemon.policy_port);
  REQUIRE(policy.ok());
  const std::vector<std::string> senders{"secret.sender@privacy-domain.test",
                                         "other.sender@privacy-domain.test"};
  for (const auto& sender : senders) {
    REQUIRE(is_greylist_reply(
        policy.policy(policy_request("203.0.113.77", sender, "secret.rcpt@privacy-rcpt.test"))));
  }
  auto milter = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(daemon.milter_port));
  REQUIRE(milter.has_value());
  REQUIRE(milter->negotiate().has_value());
  REQUIRE(milter->connect("[198.51.100.77]", '4', 25, "198.51.100.77").has_value());
  REQUIRE(milter->helo("secret-helo.privacy.test").has_value());
  REQUIRE(milter->mail({"<milter.sender@privacy-domain.test>"}).has_value());
  const auto rcpt = milter->rcpt({"<milter.rcpt@privacy-rcpt.test>"});
  REQUIRE(rcpt.has_value());
  CHECK(rcpt->command == 'y');
  std::this_thread::sleep_for(2100ms);  // past --delay 2
  // The first pass whitelists the network (--auto-whitelist-clients=1).
  CHECK(prepended_delay(policy.policy(
      policy_request("203.0.113.77", senders[0], "secret.rcpt@privacy-rcpt.test"))));
  CHECK(is_dunno_reply(policy.policy(
      policy_request("203.0.113.77", senders[1], "secret.rcpt@privacy-rcpt.test"))));
}

}  // namespace

TEST_SUITE("reliability_security") {

TEST_CASE("started as root: no supplementary groups, no capabilities, the service group") {
  if (geteuid() != 0) {
    MESSAGE("not root: privilege dropping not exercised");
    return;
  }
  const passwd* service = getpwnam("greylist-milter");
  REQUIRE_MESSAGE(service != nullptr, "the test command creates the greylist-milter user");
  DaemonProcess daemon("greylist-privs");
  daemon.milter_port = free_loopback_port();
  REQUIRE(daemon.start());
  const std::string uid = std::to_string(service->pw_uid);
  const std::string gid = std::to_string(service->pw_gid);
  CHECK(proc_status_field(daemon.pid(), "Uid:") == uid + "\t" + uid + "\t" + uid + "\t" + uid);
  CHECK(proc_status_field(daemon.pid(), "Gid:") == gid + "\t" + gid + "\t" + gid + "\t" + gid);
  CHECK(proc_status_field(daemon.pid(), "Groups:").empty());
  for (const char* set : {"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"}) {
    CAPTURE(set);
    CHECK(proc_status_field(daemon.pid(), set) == "0000000000000000");
  }
}

TEST_CASE("with no --policy and no --milter, the daemon listens on 127.0.0.1 only") {
  DaemonProcess daemon("greylist-listen");
  std::vector<std::string> argv{GREYLIST_MILTER_BINARY, "--dbdir", daemon.dbdir, "--log", "stderr",
                                "--pool-by-spf", "no", "--whitelist-clients", daemon.dir + "/clients",
                                "--whitelist-recipients", daemon.dir + "/recipients"};
  // In a network namespace of its own (loopback up), so the default ports
  // cannot clash with another daemon on this machine.
  const bool own_namespace =
      std::system("unshare --net -- sh -c 'ip link set lo up' >/dev/null 2>&1") == 0;
  if (own_namespace) {
    argv.insert(argv.begin(), {"/usr/bin/unshare", "--net", "--", "/bin/sh", "-c",
                               "ip link set lo up && exec \"$0\" \"$@\""});
  } else if (accepts_connections(10023) || accepts_connections(8891)) {
    MESSAGE("no network namespace, and 10023 or 8891 is in use here: default listeners not checked");
    return;
  }
  ChildProcess process(argv, daemon.dir + "/daemon.log");
  std::set<std::string> listening;
  const std::set<std::string> expected{"127.0.0.1:10023", "127.0.0.1:8891"};
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline && listening != expected) {
    if (process.wait_for_exit(0ms)) break;
    std::this_thread::sleep_for(50ms);
    listening = listening_addresses(process.pid());
  }
  std::string shown = own_namespace ? "own network namespace:" : "host:";
  for (const auto& address : listening) shown += " " + address;
  MESSAGE("figure: default listeners (" << shown << ")");
  CHECK(listening == expected);
}

TEST_CASE("--privacy: no address, network, sender, recipient or their plain hashes in the "
          "database files") {
  // Without --privacy the same traffic leaves them in the files: the search
  // below finds what it looks for.
  for (const bool privacy : {false, true}) {
    CAPTURE(privacy);
    DaemonProcess daemon("greylist-privacy");
    daemon.milter_port = free_loopback_port();
    daemon.base_options = {"--delay", "2", "--auto-whitelist-clients=1", "--dynamic-delay", "0"};
    if (privacy) daemon.base_options.push_back("--privacy");
    REQUIRE(daemon.start());
    exercise(daemon);
    REQUIRE(daemon.stop(10s));  // checkpointed: the tables hold everything

    greylist::GreylistConfig config;  // the default /24 and /64 networks
    const std::vector<std::string> clear_texts{
        "203.0.113.77", "203.0.113.0", "198.51.100.77", "198.51.100.0", "secret.sender",
        "privacy-domain.test", "secret.rcpt", "privacy-rcpt.test", "milter.sender", "milter.rcpt"};
    // Unkeyed 64-bit hashes of a network or a sender are as good as the
    // text: 2^24 IPv4 networks are enumerated in a second.
    const std::vector<std::string> plain_hashes{
        little_endian(greylist::stable_hash(greylist::client_network("203.0.113.77", config))),
        little_endian(greylist::stable_hash(greylist::client_network("198.51.100.77", config))),
        little_endian(greylist::stable_hash(
            greylist::normalize_sender("secret.sender@privacy-domain.test")))};
    std::size_t found_text = 0;
    std::size_t found_hash = 0;
    std::string findings;
    for (const auto& file : database_files(daemon.dbdir)) {
      for (const auto& text : clear_texts) {
        if (file_contains(file, text)) {
          ++found_text;
          findings += fs::path(file).filename().string() + ": '" + text + "'; ";
        }
      }
      for (std::size_t i = 0; i < plain_hashes.size(); ++i) {
        if (file_contains(file, plain_hashes[i])) {
          ++found_hash;
          findings += fs::path(file).filename().string() + ": plain hash #" + std::to_string(i) + "; ";
        }
      }
    }
    if (privacy) {
      CHECK_MESSAGE(found_text == 0, findings);
      CHECK_MESSAGE(found_hash == 0, findings);
    } else {
      CHECK(found_text > 0);
      CHECK(found_hash > 0);
    }
  }
}

}  // TEST_SUITE
