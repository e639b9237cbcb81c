// Hostile input on the milter socket of an in-process MilterServer:
// malformed, truncated, oversized and out-of-order packets, as a broken or
// hostile MTA (or anything that reaches the port) could send them. libmilter
// parses the packets; our callbacks get what it makes of them (NULL or empty
// arguments, odd families, NUL-less or huge strings). After each case the
// daemon must still be alive and answer a well-formed session correctly.
//
// One server for the whole executable (libmilter serves once per process):
// see hostile_milter.h. Runs under ASan+UBSan too (scripts/run-sanitizers.sh).
#include <fcntl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "greylist/greylister.h"
#include "hostile_milter.h"
#include "milter/milter_server.h"
#include "store/memory_store.h"
#include "support/child_process.h"
#include "support/fake_clock.h"
#include "support/temp_dir.h"

namespace greylist::hostile {
namespace {

using namespace std::chrono_literals;
using testing::MilterClient;

constexpr char kConnect = 'C';
constexpr char kHelo = 'H';
constexpr char kMail = 'M';
constexpr char kRcpt = 'R';
constexpr char kMacro = 'D';
constexpr char kBodyEob = 'E';

// libmilter's limit on one packet's data (MILTER_MAX_DATA_SIZE).
constexpr std::size_t kLibmilterMaxData = 65535;

// The daemon's stderr, where log() writes: a file for the process's life,
// so tests can read what was logged.
class LogCapture {
 public:
  LogCapture() : dir_("milter-hostile"), path_(dir_.file("stderr.log")) {
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    std::fflush(stderr);
    REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    std::printf("milter_hostile: the milter's log goes to %s\n", path_.c_str());
  }
  std::string read() const {
    std::ifstream in(path_, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

 private:
  testing::TempDir dir_;
  std::string path_;
};

struct LiveServer {
  LiveServer() {
    port = testing::free_loopback_port();
    MilterSettings settings;
    settings.socket = parse_socket_spec("inet:127.0.0.1:" + std::to_string(port)).value();
    settings.common.hostname = "mx.test";
    settings.timeout = std::chrono::seconds(5);
    auto opened = MilterServer::open(settings, greylister, clock);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    server = std::move(opened).value();
    thread = std::thread([this] { server->run(); });
  }
  ~LiveServer() {
    server->stop();
    if (thread.joinable()) thread.join();
  }
  static GreylistConfig config() {
    GreylistConfig c;
    c.auto_whitelist_clients = 0;  // every test case's triplets stay new
    c.auto_whitelist_domains = 0;
    return c;
  }

  LogCapture log;  // before the server: it logs from its first connection
  MemoryStore store;
  testing::FakeClock clock;
  Greylister greylister{config(), store, clock};
  int port = 0;
  std::unique_ptr<MilterServer> server;
  std::thread thread;
};

LiveServer& live() {
  static LiveServer server;
  return server;
}

std::optional<MilterClient> raw_connection() {
  return MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(milter_port()));
}

std::string be32(std::uint32_t value) {
  const std::uint32_t be = htonl(value);
  return std::string(reinterpret_cast<const char*>(&be), 4);
}

// The connection is either closed by the milter or still answers: what
// libmilter does with a bad packet is its business; not crashing is ours.
void finish(MilterClient& client) {
  (void)client.read(200ms);
  (void)client.wait_closed(300ms);
}

// A fresh IPv4 client address per call, so every proof is a new triplet.
std::string next_address() {
  static int n = 0;
  ++n;
  return "198.51." + std::to_string(100 + n / 250) + "." + std::to_string(1 + n % 250);
}

bool still_serves() {
  const std::string address = next_address();
  return greylists(address, "proof@example.org", "rcpt-" + address + "@dest.test");
}

}  // namespace

int milter_port() { return live().port; }

std::size_t log_offset() { return live().log.read().size(); }

std::string log_since(std::size_t offset) {
  const std::string all = live().log.read();
  return offset < all.size() ? all.substr(offset) : std::string();
}

MilterClient open_milter() {
  auto client = raw_connection();
  REQUIRE(client.has_value());
  REQUIRE(client->negotiate().has_value());
  return std::move(*client);
}

// As an MTA that offers no "no reply" steps: libmilter then answers every
// command it accepts, which shows whether it accepted one.
MilterClient open_milter_with_replies() {
  auto client = raw_connection();
  REQUIRE(client.has_value());
  REQUIRE(client->negotiate(6, 0x1ff, 0x1fffff & ~MilterClient::kNoReplyBits).has_value());
  return std::move(*client);
}

bool greylists(const std::string& address, const std::string& sender, const std::string& recipient,
               const std::string& name, const std::string& helo) {
  auto m = open_milter();
  m.macros('C', {{"j", "mx.test"}});
  const auto connected = m.connect(name, '4', 25, address);
  if (!connected || !MilterClient::continues(*connected)) return false;
  const auto greeted = m.helo(helo);
  if (!greeted || !MilterClient::continues(*greeted)) return false;
  m.macros('M', {{"i", "4XyZ1q2w3"}});
  const auto mailed = m.mail({"<" + sender + ">"});
  if (!mailed || !MilterClient::continues(*mailed)) return false;
  const auto reply = m.rcpt({"<" + recipient + ">"});
  return reply && reply->command == 'y' &&
         MilterClient::reply_text(*reply).rfind("450 4.2.0 Greylisted", 0) == 0;
}

TEST_SUITE("milter_hostile") {

TEST_CASE("a well-formed session is greylisted (the proof used after each hostile case)") {
  CHECK(still_serves());
}

TEST_CASE("bad packet lengths before negotiation: zero, one byte short, oversized, huge") {
  for (const std::string& bytes :
       {std::string("\0\0\0\0", 4),                       // zero length: no command byte
        be32(13) + "O" + be32(6),                          // OPTNEG cut short of its 12 bytes
        be32(5) + "O" + be32(6),                           // OPTNEG with 4 of its 12 bytes
        be32(kLibmilterMaxData + 2) + "O",                 // just over libmilter's limit
        be32(0x7fffffff) + "O",                            // 2 GiB announced
        be32(0xffffffff) + "R",                            // length wraps
        std::string("\0\0\0", 3)}) {                       // header cut short, then EOF
    CAPTURE(bytes.size());
    auto client = raw_connection();
    REQUIRE(client.has_value());
    client->send_raw(bytes);
    finish(*client);
  }
  CHECK(still_serves());
}

TEST_CASE("unknown commands and commands before negotiation") {
  {
    auto client = raw_connection();
    REQUIRE(client.has_value());
    client->send(kConnect, std::string("host\0" "4\0\x19" "192.0.2.1\0", 18));  // no OPTNEG first
    finish(*client);
  }
  for (const char command : {'Z', '\0', '\xff', 'X', 'T'}) {
    CAPTURE(static_cast<int>(static_cast<unsigned char>(command)));
    auto m = open_milter();
    m.send(command, "whatever\0");
    finish(m);
  }
  CHECK(still_serves());
}

TEST_CASE("truncated and malformed CONNECT") {
  const std::string port = std::string("\0\x19", 2);
  for (const std::string& data :
       {std::string(),                                   // nothing at all
        std::string("host"),                             // name without NUL
        std::string("host\0", 5),                        // no family
        std::string("host\0" "4", 6),                    // family, no port
        std::string("host\0" "4", 6) + port,             // no address
        std::string("host\0" "4", 6) + port + "192.0.2.7",        // address without NUL
        std::string("host\0" "4", 6) + port + std::string("999.1.1.1\0", 10),
        std::string("host\0" "6", 6) + port + std::string("not:an:address\0", 15),
        std::string("host\0" "6", 6) + port + std::string("\0", 1),
        std::string("host\0" "L", 6) + port + std::string("/var/run/x\0", 11),
        std::string("host\0" "U", 6),                    // unknown family: no address
        std::string("host\0" "?", 6) + port + std::string("192.0.2.7\0", 10),
        std::string("\0" "4", 2) + port + std::string("192.0.2.7\0", 10),  // empty name
        std::string(60000, 'h') + std::string("\0" "4", 2) + port + std::string("192.0.2.7\0", 10)}) {
    CAPTURE(data.size());
    auto m = open_milter_with_replies();
    m.send(kConnect, data);
    // If libmilter accepted it, a message on this connection must not crash us.
    if (const auto reply = m.read(300ms); reply && reply->command == 'c') {
      m.send(kMail, std::string("<a@example.org>\0", 16));
      (void)m.read(300ms);
      m.send(kRcpt, std::string("<b@dest.test>\0", 14));
      (void)m.read(300ms);
    }
    finish(m);
  }
  CHECK(still_serves());
}

TEST_CASE("truncated, empty and NUL-less HELO, MAIL and RCPT") {
  for (const char command : {kHelo, kMail, kRcpt}) {
    for (const std::string& data : {std::string(), std::string("\0", 1), std::string("<a@b>"),
                                    std::string("\0\0\0", 3), std::string("<a@b>\0SIZE=1", 12)}) {
      CAPTURE(command);
      CAPTURE(data.size());
      auto m = open_milter();
      REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
      if (command == kRcpt) {
        REQUIRE(m.mail({"<a@example.org>"}).has_value());
      }
      m.send(command, data);
      (void)m.read(300ms);
      // And the message goes on to its end, as an MTA would try.
      m.send(kRcpt, std::string("<c@dest.test>\0", 14));
      (void)m.read(300ms);
      m.send(kBodyEob);
      (void)m.read(300ms);
      finish(m);
    }
  }
  CHECK(still_serves());
}

TEST_CASE("addresses of 64 KiB: cut for the key and the log, or refused by libmilter") {
  const std::size_t offset = log_offset();
  {
    // Just under libmilter's limit: accepted, decided on a bounded key.
    auto m = open_milter();
    REQUIRE(m.connect(std::string(60000, 'n') + ".example.org", '4', 25, next_address()).has_value());
    REQUIRE(m.helo(std::string(60000, 'h')).has_value());
    const auto mailed = m.mail({"<" + std::string(60000, 's') + "@example.org>"});
    REQUIRE(mailed.has_value());
    CHECK(MilterClient::continues(*mailed));
    const auto reply = m.rcpt({"<" + std::string(60000, 'r') + "@dest.test>"});
    REQUIRE(reply.has_value());
    CHECK(reply->command == 'y');
    CHECK(MilterClient::reply_text(*reply).size() < 1000);  // the reply text stays bounded
  }
  {
    // Over it (64 KiB and more): libmilter drops the connection.
    auto m = open_milter();
    REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
    REQUIRE(m.mail({"<a@example.org>"}).has_value());
    m.send(kRcpt, "<" + std::string(65536, 'r') + "@dest.test>" + std::string(1, '\0'));
    CHECK(m.wait_closed());
  }
  // The logged line of the huge triplet is bounded: each value cut at 256 bytes.
  const std::string logged = log_since(offset);
  std::istringstream lines(logged);
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    if (line.find("rrrrrrrr") == std::string::npos) continue;
    found = true;
    CHECK(line.size() < 2000);
  }
  CHECK(found);
  CHECK(still_serves());
}

// Macro packets (SMFIC_MACRO) whose strings come in name/value pairs. A
// packet with an odd number of strings (a name without its value) is left
// out: Debian 12's libmilter (8.17.1) then reads past its macro array in
// smfi_getsymval() and the process crashes: see the skipped case below and
// RELIABILITY.md.
TEST_CASE("macros: empty, unterminated, for unknown commands, empty names and values, 60 KiB values") {
  for (const std::string& data :
       {std::string(), std::string("M"), std::string("Mi"), std::string("Mi\0\0", 4),
        std::string("M\0\0", 3), std::string("Mi\0x\0j", 6), std::string("Z{x}\0y\0", 7),
        std::string("Mi\0", 3) + std::string(60000, 'q') + std::string(1, '\0'),
        std::string("M{auth_authen}\0", 15) + std::string(60000, 'a') + std::string(1, '\0')}) {
    CAPTURE(data.size());
    auto m = open_milter();
    REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
    m.send(kMacro, data);
    m.send(kMail, std::string("<a@example.org>\0", 16));
    (void)m.read(300ms);
    m.send(kMacro, data.empty() ? data : "R" + data.substr(1));
    m.send(kRcpt, std::string("<b@dest.test>\0", 14));
    (void)m.read(300ms);
    m.send(kBodyEob);
    (void)m.read(300ms);
    finish(m);
  }
  CHECK(still_serves());
}

// Known and not ours to fix: libmilter's smfi_getsymval() walks the macro
// array two entries at a time, so an odd number of strings ("i\0" alone)
// makes it step over the terminating NULL and read past the allocation;
// under ASan this is reported as a SEGV in smfi_getsymval, without it the
// process may crash. Any local process that can connect to the milter
// socket can send this: keep the socket reachable by the MTA only
// (RELIABILITY.md). Run with --no-skip to see it.
TEST_CASE("KNOWN libmilter bug: a macro name without a value crashes smfi_getsymval" *
          doctest::skip(true)) {
  auto m = open_milter();
  REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
  m.send(kMacro, std::string("M{auth_authen}\0", 15));
  m.send(kMail, std::string("<a@example.org>\0", 16));
  (void)m.read(300ms);
  m.send(kMacro, std::string("Ri\0", 3));
  m.send(kRcpt, std::string("<b@dest.test>\0", 14));
  (void)m.read(300ms);
  finish(m);
  CHECK(still_serves());
}

TEST_CASE("peers that vanish mid-packet and mid-session") {
  {
    auto m = open_milter();
    REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
    m.send_raw(be32(100) + "R<half");  // announces 100 bytes, sends 7, closes
  }
  {
    auto m = open_milter();
    REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
    REQUIRE(m.mail({"<a@example.org>"}).has_value());
    m.send(kRcpt, std::string("<b@dest.test>\0", 14));  // closes before reading the answer
  }
  std::this_thread::sleep_for(100ms);
  CHECK(still_serves());
}

TEST_CASE("random packets after a valid CONNECT (seeded, 300 connections)") {
  std::mt19937 random(20261125);
  std::uniform_int_distribution<int> byte(0, 255);
  // Every command but SMFIC_MACRO ('D'): random macro strings hit the
  // libmilter bug documented above.
  const char commands[] = {'A', 'B', 'C', 'E', 'H', 'K', 'L', 'M', 'N', 'O', 'Q', 'R', 'T', 'U', 'Z'};
  for (int i = 0; i < 300; ++i) {
    auto m = open_milter();
    REQUIRE(m.connect("mail.example.org", '4', 25, next_address()).has_value());
    const int packets = 1 + byte(random) % 4;
    for (int p = 0; p < packets; ++p) {
      std::string data(static_cast<std::size_t>(byte(random) % 64), '\0');
      for (char& c : data) c = static_cast<char>(byte(random) % 4 == 0 ? 0 : byte(random));
      const char command = commands[byte(random) % sizeof commands];
      if (!m.send(command, data)) break;
    }
    (void)m.read(20ms);
  }
  CHECK(still_serves());
}

}  // TEST_SUITE

}  // namespace greylist::hostile
