#include "daemon/config_reload.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

using namespace greylist;

namespace {

DaemonOptions parsed(const std::vector<std::string>& args) {
  auto r = reparse_daemon_options(args, "/start");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return r.value().options;
}

std::vector<std::string> names(const char* options) {
  std::istringstream words(options);
  std::vector<std::string> out;
  for (std::string word; words >> word;) out.push_back(word);
  return out;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_SUITE("config_reload") {

TEST_CASE("nothing changed: nothing applied, nothing to restart") {
  const DaemonOptions running = parsed({"--delay", "120"});
  const ReloadOutcome outcome = compare_settings(running, parsed({"--delay", "120"}));
  CHECK(outcome.applied.empty());
  CHECK(outcome.need_restart.empty());
  CHECK(outcome.options.greylist.delay == 120);
}

TEST_CASE("reloadable changes are adopted, restart-only ones named and kept") {
  const DaemonOptions running = parsed({});
  const DaemonOptions fresh =
      parsed({"--delay", "60", "--max-age", "10", "--greylist-text", "later", "--ipv4cidr", "32",
              "--dbdir", "/elsewhere", "--on-error", "tempfail", "--verbose", "--exim"});
  const ReloadOutcome outcome = compare_settings(running, fresh);
  CHECK(outcome.applied == Names{"verbose", "on-error", "delay", "max-age", "greylist-text"});
  CHECK(outcome.need_restart == Names{"dbdir", "exim", "ipv4cidr"});
  const DaemonOptions& o = outcome.options;
  CHECK(o.greylist.delay == 60);
  CHECK(o.greylist.max_age == 10 * 86400);
  CHECK(o.log.verbose);
  // Both front ends get the texts and --on-error.
  CHECK(o.policy.common.greylist_text == "later");
  CHECK(o.milter.common.greylist_text == "later");
  CHECK(o.policy.common.on_error == OnError::kTempfail);
  CHECK(o.milter.common.on_error == OnError::kTempfail);
  // Restart-only: the running values.
  CHECK(o.greylist.ipv4_cidr == 24);
  CHECK(o.dbdir == "/var/lib/greylist-milter");
  CHECK_FALSE(o.policy.close_after_reply);
}

TEST_CASE("keying, sockets and the store are restart-only; whitelist files reload") {
  const DaemonOptions running = parsed({});
  const ReloadOutcome keying = compare_settings(
      running, parsed({"--lookup-by-host", "--privacy", "--client-awl-key", "host",
                       "--pool-by-domain", "no", "--ipv6cidr", "48"}));
  CHECK(keying.applied.empty());
  CHECK(keying.need_restart ==
        Names{"lookup-by-host", "ipv6cidr", "privacy", "pool-by-domain", "client-awl-key"});
  const ReloadOutcome process = compare_settings(
      running, parsed({"--policy", "unix:/run/p.sock", "--milter", "none", "--store", "redis",
                       "--redis-prefix", "x:", "--user", "nobody", "--threads", "9"}));
  CHECK(process.applied.empty());
  CHECK(process.need_restart ==
        Names{"store", "redis-prefix", "threads", "user", "policy", "milter"});
  const ReloadOutcome lists =
      compare_settings(running, parsed({"--whitelist-clients", "mine", "--auto-whitelist-clients",
                                        "0", "--dynamic-delay", "600"}));
  CHECK(lists.applied == Names{"auto-whitelist-clients", "dynamic-delay", "whitelist-clients"});
  REQUIRE(lists.options.whitelist_clients.size() == 1);
  CHECK(lists.options.whitelist_clients[0].path == "/start/mine");  // from the start's directory
}

TEST_CASE("--compat postgrey on a reload: its reloadable parts apply, its keying parts wait") {
  const ReloadOutcome outcome = compare_settings(parsed({}), parsed({"--compat", "postgrey"}));
  CHECK(outcome.applied == Names{"auto-whitelist-domains", "dynamic-delay"});
  CHECK(outcome.need_restart == Names{"pool-by-domain", "pool-by-spf", "client-awl-key"});
}

TEST_CASE("the table names every option once, except those that are no setting") {
  // --compat sets other options' values; the rest are commands or refused.
  const std::set<std::string> no_setting = {"help", "version", "config", "man",
                                            "compat", "noaction", "no-action"};
  std::multiset<std::string> in_table;
  for (const auto& row : setting_reload_table()) {
    for (const auto& name : names(row.options)) in_table.insert(name);
  }
  for (const auto& option : daemon_option_names()) {
    if (no_setting.count(option) != 0) {
      CHECK_MESSAGE(in_table.count(option) == 0, option);
    } else {
      CHECK_MESSAGE(in_table.count(option) == 1, "--" << option << " is not in the table once");
    }
  }
  CHECK(in_table.size() + no_setting.size() == daemon_option_names().size());
}

TEST_CASE("greylist-milter(8) lists the reloadable and the restart-only settings as the table") {
  std::ifstream file(std::string(SOURCE_ROOT) + "/man/greylist-milter.8");
  std::stringstream text;
  text << file.rdbuf();
  const std::string man = text.str();
  // The options named in the paragraph that begins with `heading`.
  const auto paragraph = [&man](const std::string& heading) {
    std::set<std::string> named;
    const auto begin = man.find("\n" + heading + "\n");
    REQUIRE_MESSAGE(begin != std::string::npos, heading);
    const auto end = std::min(man.find("\n.PP", begin + 1), man.find("\n.SH", begin + 1));
    const std::string body = man.substr(begin, end - begin);
    for (auto at = body.find("\\-\\-"); at != std::string::npos; at = body.find("\\-\\-", at)) {
      at += 4;
      const auto stop = body.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-", at);
      named.insert(body.substr(at, stop - at));
    }
    return named;
  };
  const std::set<std::string> reloaded = paragraph("Reloaded on SIGHUP:");
  const std::set<std::string> restart = paragraph("Restart only:");
  for (const auto& row : setting_reload_table()) {
    const std::string name = names(row.options).front();
    CHECK_MESSAGE((row.reloadable ? reloaded : restart).count(name) == 1, "--" << name);
    CHECK_MESSAGE((row.reloadable ? restart : reloaded).count(name) == 0, "--" << name);
  }
}

TEST_CASE("ConfigReload reads the file named relative to the start's directory") {
  greylist::testing::TempDir dir("greylist-config-reload");
  std::ofstream(dir.file("greylist.conf")) << "delay = 90\n";
  const ConfigReload reload({"--config", "greylist.conf", "--max-age", "3"}, dir.path());
  const DaemonOptions running = parsed({});
  auto outcome = reload.read(running);
  REQUIRE_MESSAGE(outcome.ok(), outcome.status().message());
  CHECK(outcome.value().applied == Names{"delay", "max-age"});
  CHECK(outcome.value().options.greylist.delay == 90);

  // Invalid: an error naming the option, nothing to apply.
  std::ofstream(dir.file("greylist.conf")) << "delay = soon\n";
  auto invalid = reload.read(running);
  REQUIRE_FALSE(invalid.ok());
  CHECK(invalid.status().message().find("delay") != std::string::npos);
  std::remove(dir.file("greylist.conf").c_str());
  auto missing = reload.read(running);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find(dir.file("greylist.conf")) != std::string::npos);
}

}  // TEST_SUITE
