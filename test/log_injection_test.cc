// Log injection (issue 7, "Security"): a sender, recipient, HELO or client
// name holding CR, LF, NUL, ESC or 8-bit bytes must not reach the log raw.
// Every log line stays printable ASCII, and each decision stays one line,
// whichever front end the strings came through:
//  - policy: the real daemon process, over its policy socket;
//  - milter: the in-process MilterServer of this executable (hostile_milter.h).
#include <doctest/doctest.h>

#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "hostile_milter.h"
#include "support/daemon_process.h"
#include "support/line_client.h"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using greylist::testing::DaemonProcess;
using greylist::testing::LineClient;

// Every byte of `log` is printable ASCII or the '\n' ending a line; returns
// the first offending line otherwise ("" when clean).
std::string first_unprintable_line(const std::string& log) {
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    for (const char c : line) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x7f) return line;
    }
  }
  return "";
}

std::size_t count_lines_with(const std::string& log, const std::string& text) {
  std::istringstream lines(log);
  std::string line;
  std::size_t count = 0;
  while (std::getline(lines, line)) count += line.find(text) != std::string::npos ? 1 : 0;
  return count;
}

// Hostile bytes, one set per field (each also carries a unique marker, so
// its decision line can be found and counted).
const std::string kHostile[] = {
    std::string("cr\rpart"),
    std::string("lf\nfake: action=pass, reason=injected"),
    std::string("esc\x1b[2J\x1b]0;title\x07"),
    std::string("eight\xc3\xa9\xff\x80"),
    std::string("del\x7f\x01\x02tab\tend"),
};

std::string policy_request(const std::string& client_name, const std::string& helo,
                           const std::string& sender, const std::string& recipient,
                           const std::string& address) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + address +
         "\nclient_name=" + client_name + "\nhelo_name=" + helo + "\nsender=" + sender +
         "\nrecipient=" + recipient + "\n";
}

}  // namespace

TEST_SUITE("log_injection_policy") {

TEST_CASE("policy: control and 8-bit bytes in every field are escaped; one line per decision") {
  DaemonProcess daemon("greylist-log-injection");
  REQUIRE_MESSAGE(daemon.start(), daemon.log());
  LineClient client(daemon.policy_port, 10s);
  REQUIRE(client.ok());
  int n = 0;
  for (const std::string& hostile : kHostile) {
    CAPTURE(hostile);
    // LF ends a policy attribute line: "lf\nfake: ..." arrives as a line
    // without '=' and makes the request malformed (answered DUNNO, one
    // warning line); the other bytes reach the decision.
    const std::string marker = "m" + std::to_string(++n);
    const std::string address = "192.0.2." + std::to_string(n);
    const auto reply = client.policy(policy_request(
        "name-" + marker + hostile + ".example.org", "helo-" + hostile,
        "sender-" + marker + hostile + "@example.org", "rcpt-" + marker + hostile + "@dest.test",
        address));
    REQUIRE(reply.has_value());
    CHECK(reply->find('\n') == reply->size() - 2);  // one reply line, then the empty line
    if (hostile.find('\n') == std::string::npos) {
      CHECK(reply->rfind("action=DEFER_IF_PERMIT Greylisted", 0) == 0);
      REQUIRE(daemon.log_shows("sender=sender-" + marker));
      CHECK(daemon.lines_with("sender=sender-" + marker) == 1);
      CHECK(daemon.lines_with("action=greylist, reason=new, client_name=name-" +
                                                           marker) == 1);
    } else {
      CHECK(*reply == "action=DUNNO\n\n");
      REQUIRE(daemon.log_shows("malformed policy request"));
    }
  }
  // Warnings about a peer's bad input are rate-limited (one a second).
  std::this_thread::sleep_for(1100ms);
  // NUL inside a value: a malformed request, answered, warned about in one line.
  const auto nul = client.policy(policy_request("nul\0name"s, "h", "a@b", "nul-rcpt\0x@y"s, "192.0.2.99"));
  REQUIRE(nul.has_value());
  CHECK(*nul == "action=DUNNO\n\n");
  REQUIRE(daemon.log_shows("contains a NUL byte"));
  std::this_thread::sleep_for(1100ms);
  // An unknown request type with control bytes is quoted escaped too.
  const auto odd = client.policy("request=\x1b[31mred\r\x01\nrecipient=a@b\n");
  REQUIRE(odd.has_value());
  CHECK(*odd == "action=DUNNO\n\n");
  REQUIRE(daemon.log_shows("unrecognized request type"));

  const std::string log = daemon.log();
  CHECK_MESSAGE(first_unprintable_line(log).empty(), "raw control byte in: " << first_unprintable_line(log));
  CHECK(log.find("\\x0d") != std::string::npos);  // CR shown escaped
  CHECK(log.find("\\x1b") != std::string::npos);  // ESC
  CHECK(log.find("\\xc3\\xa9") != std::string::npos);  // 8-bit
  CHECK(log.find("\\x00") != std::string::npos);  // NUL, in the warning
  // The injected "action=pass" line never became a line, nor a decision.
  CHECK(count_lines_with(log, "action=pass") == 0);
  CHECK(log.find("]: fake") == std::string::npos);
}

}  // TEST_SUITE

TEST_SUITE("log_injection_milter") {

TEST_CASE("milter: control and 8-bit bytes in every field are escaped; one line per decision") {
  const std::size_t offset = greylist::hostile::log_offset();
  int n = 0;
  for (const std::string& hostile : kHostile) {
    CAPTURE(hostile);
    const std::string marker = "m" + std::to_string(++n);
    // libmilter hands the callbacks C strings: a NUL ends the string there,
    // so NUL itself cannot get through this front end.
    CHECK(greylist::hostile::greylists("203.0.113." + std::to_string(100 + n),
                                       "sender-" + marker + hostile + "@example.org",
                                       "rcpt-" + marker + hostile + "@dest.test",
                                       "name-" + marker + hostile + ".example.org",
                                       "helo-" + hostile));
  }
  // A NUL inside the recipient: libmilter splits the packet's strings at it.
  CHECK(greylist::hostile::greylists("203.0.113.120", "nul@example.org",
                                     std::string("nul-rcpt\0\x1b[0m@dest.test", 23)));

  std::string log;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count_lines_with(log, "action=greylist") < std::size(kHostile) + 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    log = greylist::hostile::log_since(offset);
  }
  CHECK_MESSAGE(first_unprintable_line(log).empty(), "raw control byte in: " << first_unprintable_line(log));
  n = 0;
  for (const std::string& hostile : kHostile) {
    (void)hostile;
    const std::string marker = "m" + std::to_string(++n);
    // One decision line each, holding all of its fields.
    CHECK(count_lines_with(log, "sender=sender-" + marker) == 1);
    CHECK(count_lines_with(log, "action=greylist, reason=new, client_name=name-" + marker) == 1);
  }
  CHECK(log.find("\\x0d") != std::string::npos);  // CR
  CHECK(log.find("\\x0a") != std::string::npos);  // LF
  CHECK(log.find("\\x1b") != std::string::npos);  // ESC
  CHECK(log.find("\\xc3\\xa9") != std::string::npos);  // 8-bit
  // The injected "fake: action=pass" only ever appears inside a value,
  // right after its escaped LF.
  std::size_t injected = 0;
  std::size_t escaped = 0;
  for (auto at = log.find("fake:"); at != std::string::npos; at = log.find("fake:", at + 1)) {
    ++injected;
    escaped += at >= 4 && log.compare(at - 4, 4, "\\x0a") == 0 ? 1 : 0;
  }
  CHECK(injected > 0);
  CHECK(escaped == injected);
}

}  // TEST_SUITE
