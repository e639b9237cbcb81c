// SIGHUP re-reads the configuration file (issue 15 §4), through the built
// daemon: a reloadable setting takes effect for the next request without a
// restart, a restart-only one is logged and not applied, an invalid file
// changes nothing, and the command line keeps winning over the file.
#include <signal.h>

#include <doctest/doctest.h>

#include <string>

#include "support/child_process.h"
#include "support/daemon_process.h"
#include "support/dnsmasq_server.h"
#include "support/line_client.h"
#include "support/milter_client.h"

using namespace greylist::testing;

namespace {

std::string request(const std::string& sender, const std::string& recipient,
                    const std::string& client = "203.0.113.7") {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client +
         "\nclient_name=mail.foo.test\nsender=" + sender + "\nrecipient=" + recipient + "\n";
}

std::string reply(const std::string& action) { return "action=" + action + "\n\n"; }

// One milter connection from `client` with one MAIL and one RCPT: the
// reply text to the RCPT ("" when there was none).
std::string milter_rcpt_reply(int port, const std::string& sender,
                              const std::string& client = "203.0.113.7") {
  auto milter = MilterClient::connect_tcp("127.0.0.1", static_cast<std::uint16_t>(port));
  if (!milter || !milter->negotiate()) return "";
  const auto connected = milter->connect("mail.foo.test", '4', 25, client);
  if (!connected || !milter->mail({"<" + sender + ">"})) return "";
  const auto rcpt = milter->rcpt({"<b@bar.test>"});
  return rcpt ? MilterClient::reply_text(*rcpt) : "";
}

// A daemon started with the fixture's command line plus --config FILE.
struct ConfiguredDaemon {
  explicit ConfiguredDaemon(const std::string& config_text) : daemon("greylist-reload") {
    daemon.write("greylist.conf", config_text);
    daemon.base_options = {"--config", daemon.dir + "/greylist.conf"};
  }
  // Writes the file and sends SIGHUP; waits for the reload's `count`th
  // closing line (every reload ends with the whitelists).
  bool reload(const std::string& config_text, std::size_t count) {
    daemon.write("greylist.conf", config_text);
    daemon.signal(SIGHUP);
    return daemon.wait_lines_with("whitelists reloaded", count) == count;
  }
  DaemonProcess daemon;
};

}  // namespace

TEST_SUITE("daemon_process") {

TEST_CASE("SIGHUP: a changed reloadable setting answers the next request, without a restart") {
  ConfiguredDaemon d("delay = 300\ndynamic-delay = 0\ngreylist-text = wait %s s\n");
  REQUIRE_MESSAGE(d.daemon.start(), d.daemon.log());
  const pid_t pid = d.daemon.pid();
  LineClient client(d.daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(client.policy(request("a@foo.test", "b@bar.test")) ==
        reply("DEFER_IF_PERMIT wait 300 s"));

  REQUIRE(d.reload("delay = 120\ndynamic-delay = 0\ngreylist-text = come back in %s s\n"
                   "greylist-action = DEFER\n",
                   1));
  CHECK(d.daemon.log_shows("now in force: --delay, --greylist-action, --greylist-text"));
  // The same connection, the next request.
  CHECK(client.policy(request("c@foo.test", "d@bar.test")) == reply("DEFER come back in 120 s"));
  CHECK(d.daemon.pid() == pid);
  CHECK(d.daemon.lines_with("needs a restart") == 0);
}

TEST_CASE("SIGHUP: the milter answers the next connection with the new texts and codes") {
  ConfiguredDaemon d("delay = 300\ndynamic-delay = 0\ngreylist-text = wait %s s\n");
  d.daemon.milter_port = free_loopback_port();
  REQUIRE_MESSAGE(d.daemon.start(), d.daemon.log());
  CHECK(milter_rcpt_reply(d.daemon.milter_port, "a@foo.test") == "450 4.2.0 wait 300 s");
  REQUIRE(d.reload("delay = 90\ndynamic-delay = 0\ngreylist-text = try again in %s s\n"
                   "milter-reply-code = 451\nmilter-enhanced-code = 4.7.1\n",
                   1));
  CHECK(milter_rcpt_reply(d.daemon.milter_port, "c@foo.test") == "451 4.7.1 try again in 90 s");
}

TEST_CASE("SIGHUP: a changed restart-only setting is logged by name and not applied") {
  ConfiguredDaemon d("exim = no\nipv4cidr = 24\n");
  const int metrics_port = free_loopback_port();
  REQUIRE_MESSAGE(d.daemon.start({"--metrics", "inet:127.0.0.1:" + std::to_string(metrics_port)}),
                  d.daemon.log());
  REQUIRE(d.reload("exim = yes\nipv4cidr = 32\ngreylist-text = later\n", 1));
  CHECK(d.daemon.log_shows("--exim changed in " + d.daemon.dir + "/greylist.conf: it needs a "
                           "restart to take effect, the running value stays"));
  CHECK(d.daemon.log_shows("--ipv4cidr changed in"));
  CHECK(d.daemon.log_shows("now in force: --greylist-text"));
  // --exim would close the connection after each reply: it still serves two.
  LineClient client(d.daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(client.policy(request("a@foo.test", "b@bar.test")) == reply("DEFER_IF_PERMIT later"));
  CHECK(client.policy(request("c@foo.test", "d@bar.test")) == reply("DEFER_IF_PERMIT later"));
  // The same file again: still logged (the running value is still the old one).
  d.daemon.signal(SIGHUP);
  CHECK(d.daemon.wait_lines_with("--exim changed in", 2) == 2);
  LineClient http(metrics_port);
  REQUIRE(http.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  const auto metrics = http.read_until("greylist_start_time_seconds ");
  REQUIRE(metrics);
  CHECK(metrics->find("greylist_config_restart_pending 2\n") != std::string::npos);
  CHECK(metrics->find("greylist_config_reloads_total{result=\"ok\"} 2\n") != std::string::npos);
}

TEST_CASE("SIGHUP: an invalid file changes nothing, and says what is wrong") {
  ConfiguredDaemon d("greylist-text = first\n");
  REQUIRE_MESSAGE(d.daemon.start(), d.daemon.log());
  LineClient client(d.daemon.policy_port);
  REQUIRE(client.ok());
  REQUIRE(client.policy(request("a@foo.test", "b@bar.test")) == reply("DEFER_IF_PERMIT first"));

  // A bad value beside a good change: neither is applied.
  REQUIRE(d.reload("greylist-text = second\ndelay = soon\n", 1));
  CHECK(d.daemon.log_shows("configuration reload failed, every setting keeps its value: "));
  CHECK(d.daemon.log_shows("delay"));
  CHECK(client.policy(request("c@foo.test", "d@bar.test")) == reply("DEFER_IF_PERMIT first"));
  // Values valid one by one, not together.
  REQUIRE(d.reload("greylist-text = third\ndelay = 7200\nretry-window = 1h\n", 2));
  CHECK(d.daemon.wait_lines_with("configuration reload failed", 2) == 2);
  CHECK(d.daemon.log_shows("retry-window"));
  CHECK(client.policy(request("e@foo.test", "f@bar.test")) == reply("DEFER_IF_PERMIT first"));
  // An unknown option and an unreadable file alike.
  REQUIRE(d.reload("greylist-text = fourth\nno-such-option = 1\n", 3));
  CHECK(d.daemon.wait_lines_with("configuration reload failed", 3) == 3);
  CHECK(client.policy(request("g@foo.test", "h@bar.test")) == reply("DEFER_IF_PERMIT first"));
  // Fixed: applied.
  REQUIRE(d.reload("greylist-text = fifth\n", 4));
  CHECK(client.policy(request("i@foo.test", "j@bar.test")) == reply("DEFER_IF_PERMIT fifth"));
}

TEST_CASE("SIGHUP: the rules file the new settings name is loaded; DNS lists keep working") {
  DnsmasqZones zones;
  zones.records = {{"9.113.0.203.bl.test", "127.0.0.2"}};
  zones.local_zones = {"bl.test"};
  DnsmasqServer dns(zones);
  const std::string lists = "dnsrbl \"bl\" bl.test 127.0.0.2\nracl \"listed\" blacklist dnsrbl \"bl\"\n";
  ConfiguredDaemon d("");
  d.daemon.write("rules-a", lists);
  d.daemon.write("rules-b", lists + "racl \"no\" blacklist rcpt bad@bar.test\n");
  const std::string settings = "dns-server = " + dns.address() + "\ndns-timeout = 2000\n";
  d.daemon.write("greylist.conf", settings + "rules = " + d.daemon.dir + "/rules-a\n");
  d.daemon.milter_port = free_loopback_port();
  REQUIRE_MESSAGE(d.daemon.start(), d.daemon.log());
  LineClient client(d.daemon.policy_port);
  REQUIRE(client.ok());
  const std::string listed = reply("550 5.7.1 Rejected by local policy (rule listed)");
  CHECK(client.policy(request("a@foo.test", "x@bar.test", "203.0.113.9")) == listed);
  CHECK(client.policy(request("a@foo.test", "bad@bar.test")) != reply("550 5.7.1 Rejected by local policy (rule no)"));

  REQUIRE(d.reload(settings + "rules = " + d.daemon.dir + "/rules-b\ngreylist-text = later\n", 1));
  CHECK(d.daemon.log_shows("now in force: --greylist-text, --rules"));
  CHECK(d.daemon.log_shows("rules " + d.daemon.dir + "/rules-b: 2 rules"));
  CHECK(client.policy(request("b@foo.test", "bad@bar.test")) ==
        reply("550 5.7.1 Rejected by local policy (rule no)"));
  // The reply settings changed; the resolver the front end uses did not.
  CHECK(client.policy(request("b@foo.test", "y@bar.test", "203.0.113.9")) == listed);
  CHECK(milter_rcpt_reply(d.daemon.milter_port, "b@foo.test", "203.0.113.9") ==
        "550 5.7.1 Rejected by local policy (rule listed)");
  CHECK(client.policy(request("c@foo.test", "z@bar.test")) == reply("DEFER_IF_PERMIT later"));
}

TEST_CASE("SIGHUP: what the command line sets keeps winning over the file") {
  // The fixture gives --hostname on the command line.
  ConfiguredDaemon d("greylist-text = from the file\n");
  REQUIRE_MESSAGE(d.daemon.start({"--greylist-text", "from the command line"}), d.daemon.log());
  REQUIRE(d.reload("greylist-text = changed in the file\nhostname = other.host\n", 1));
  CHECK(d.daemon.log_shows("no reloadable setting changed"));
  LineClient client(d.daemon.policy_port);
  REQUIRE(client.ok());
  CHECK(client.policy(request("a@foo.test", "b@bar.test")) ==
        reply("DEFER_IF_PERMIT from the command line"));
}

}  // TEST_SUITE
