// greylistctl migrate-postgrey: its parts in-process (shell quoting of
// /etc/default files, postgrey's options translated, the config file
// appended to), and the built program on files in a temporary directory
// (dry run, conflicts, --force, running twice). The whole switch from a
// real postgrey behind Postfix is test/e2e/postgrey_migration_test.cc.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/temp_dir.h"
#include "tools/config_update.h"
#include "tools/postgrey_options.h"
#include "config/shell_words.h"

using namespace greylist;
using namespace greylist::testing;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string setting(const PostgreyConfiguration& c, const std::string& name) {
  std::string out;
  for (const auto& s : c.settings) {
    if (s.name == name) out += (out.empty() ? "" : "|") + s.value;
  }
  return out;
}

bool noted(const PostgreyConfiguration& c, const std::string& what) {
  for (const auto& note : c.not_carried) {
    if (contains(note, what)) return true;
  }
  return false;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
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

}  // namespace

TEST_SUITE("migrate_postgrey") {
TEST_CASE("shell words: quotes, escapes, bounds") {
  struct Row {
    const char* text;
    std::vector<std::string> words;
  };
  const Row rows[] = {
      {"--inet=10023", {"--inet=10023"}},
      {"  --delay=60\t--max-age=10  ", {"--delay=60", "--max-age=10"}},
      {"--greylist-text='Come back in %s s' -v", {"--greylist-text=Come back in %s s", "-v"}},
      {"--greylist-text=\"a \\\"b\\\" \\$c\"", {"--greylist-text=a \"b\" $c"}},
      {"a\\ b 'it''s' \"x\"'y'z", {"a b", "its", "xyz"}},
      {"'#not a comment' \"\\n\"", {"#not a comment", "\\n"}},
      {"", {}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    auto words = split_shell_words(row.text);
    REQUIRE(words.ok());
    CHECK(words.value() == row.words);
  }
  for (const char* bad : {"'open", "\"open", "trailing\\", "a;b"}) {
    CAPTURE(bad);
    CHECK_FALSE(split_shell_words(bad).ok());
  }
  CHECK_FALSE(split_shell_words(std::string(kMaxShellText + 1, 'a')).ok());
  std::string many;
  for (std::size_t i = 0; i <= kMaxShellWords; ++i) many += "x ";
  CHECK_FALSE(split_shell_words(many).ok());
}

TEST_CASE("defaults files: Debian's, export, multi-line values, comments, what is not an assignment") {
  const std::string debian =
      "# postgrey startup options, created for Debian\n\n"
      "# you may want to set\n#   --delay=N   how long to greylist, seconds (default: 300)\n"
      "POSTGREY_OPTS=\"--inet=10023\"\n\n"
      "#POSTGREY_TEXT=\"Your customized rejection message here\"\n";
  auto parsed = parse_shell_assignments(debian);
  REQUIRE(parsed.ok());
  CHECK(parsed.value().values.size() == 1);
  CHECK(parsed.value().values.at("POSTGREY_OPTS") == "--inet=10023");
  CHECK(parsed.value().warnings.empty());

  parsed = parse_shell_assignments(
      "export POSTGREY_OPTS='--inet=127.0.0.1:10023\n  --delay=90'  # two lines\n"
      "POSTGREY_TEXT=Try\\ again # comment\n"
      "A=1; B=\"2#3\"\n"
      "if [ -x /bin/true ]; then C=4; fi\n"
      "D=\"$HOME/x\"\n"
      "POSTGREY_OPTS=\"$POSTGREY_OPTS --delay=120\"\n");
  REQUIRE(parsed.ok());
  const auto& v = parsed.value().values;
  CHECK(v.at("POSTGREY_TEXT") == "Try again");
  CHECK(v.at("A") == "1");
  CHECK(v.at("B") == "2#3");
  CHECK(v.count("C") == 0);
  CHECK(v.at("D") == "$HOME/x");
  // The last assignment wins, taken as written (never expanded).
  CHECK(v.at("POSTGREY_OPTS") == "$POSTGREY_OPTS --delay=120");
  REQUIRE(parsed.value().warnings.size() == 3);
  CHECK(contains(parsed.value().warnings[0], "5: not a NAME=value assignment"));
  CHECK(contains(parsed.value().warnings[1], "6: D uses $"));
  CHECK(contains(parsed.value().warnings[2], "7: POSTGREY_OPTS uses $"));

  auto open = parse_shell_assignments("A=1\nB='never closed\nC=3\n");
  REQUIRE_FALSE(open.ok());
  CHECK(contains(open.status().message(), "line 2: unterminated ' quote"));
}

TEST_CASE("postgrey's options: Debian's line, every option, its quirks, what it refuses") {
  auto debian = translate_postgrey_options({"--inet=10023"}, std::nullopt);
  REQUIRE(debian.settings.size() == 1);
  CHECK(setting(debian, "inet") == "10023");
  CHECK(debian.not_carried.empty());
  CHECK(debian.dbdir == "/var/lib/postgrey");
  CHECK(debian.delay == 300);

  const std::vector<std::string> every = {
      "-v", "--unix=/var/spool/postfix/postgrey/socket", "-i", "127.0.0.1:10030",
      "--socketmode=0660", "--user=pg", "--group=pg", "--dbdir=/srv/pg", "--pidfile=/run/p.pid",
      "-d", "--delay=120", "--max-age=20", "--lookup-by-host", "--ipv4cidr=16", "--ipv6cidr=48",
      "--auto-whitelist-clients", "--whitelist-clients=/etc/postgrey/whitelist_clients",
      "--whitelist-clients=/srv/mine", "--whitelist-recipients=/etc/postgrey/whitelist_recipients.local",
      "--facility=local3", "--retry-window=6h", "--greylist-action=451", "--greylist-text=old",
      "--privacy", "--hostname=mx.example", "--exim", "--listen-queue-size=50",
      "--x-greylist-header=X-Greylist: %t s", "-q"};
  auto all = translate_postgrey_options(every, std::string("Back in %s seconds"));
  CHECK(setting(all, "unix") == "/var/spool/postfix/postgrey/socket");
  CHECK(setting(all, "inet") == "127.0.0.1:10030");
  CHECK(setting(all, "socketmode") == "0660");
  CHECK(setting(all, "delay") == "120");
  CHECK(setting(all, "max-age") == "20");
  CHECK(setting(all, "lookup-by-host") == "true");
  CHECK(setting(all, "ipv4cidr") == "16");
  CHECK(setting(all, "ipv6cidr") == "48");
  CHECK(setting(all, "auto-whitelist-clients") == "5");  // no value: postgrey's 5
  CHECK(setting(all, "syslog-facility") == "local3");
  CHECK(setting(all, "retry-window") == "6h");
  CHECK(setting(all, "greylist-action") == "451");
  CHECK(setting(all, "greylist-text") == "Back in %s seconds");  // POSTGREY_TEXT wins
  CHECK(setting(all, "privacy") == "true");
  CHECK(setting(all, "hostname") == "mx.example");
  CHECK(setting(all, "x-greylist-header") == "X-Greylist: %t s");
  CHECK(setting(all, "verbose").empty());  // postgrey: -q wins over -v
  CHECK(setting(all, "quiet") == "true");
  CHECK(setting(all, "exim") == "true");
  CHECK(setting(all, "listen-queue-size") == "50");
  CHECK(all.dbdir == "/srv/pg");
  CHECK(all.delay == 120);
  CHECK(all.privacy);
  CHECK(all.whitelist_clients ==
        std::vector<std::string>{"/etc/postgrey/whitelist_clients", "/srv/mine"});
  CHECK(all.whitelist_recipients ==
        std::vector<std::string>{"/etc/postgrey/whitelist_recipients.local"});
  for (const char* what : {"--user=pg", "--group=pg", "--pidfile=/run/p.pid", "-d: not needed"}) {
    CAPTURE(what);
    CHECK(noted(all, what));
  }

  // postgrey's zeros mean its defaults; --delay=0 would mean "no delay" here.
  auto zeros = translate_postgrey_options(
      {"--inet", "10023", "--delay=0", "--max-age=0", "--ipv4cidr=0", "--auto-whitelist-clients=0"},
      std::nullopt);
  CHECK(setting(zeros, "delay") == "300");
  CHECK(setting(zeros, "max-age").empty());
  CHECK(setting(zeros, "ipv4cidr").empty());
  CHECK(setting(zeros, "auto-whitelist-clients") == "0");
  CHECK(zeros.delay == 300);
  CHECK(noted(zeros, "--delay=0: postgrey reads 0 as 300"));

  // What postgrey itself refuses or ignores is named, never carried.
  auto refused = translate_postgrey_options(
      {"--inet=10023", "--delay=soon", "--greylist-txt=x", "-n", "--privacy=yes", "--hostname",
       }, std::nullopt);
  CHECK(refused.settings.size() == 1);
  CHECK(noted(refused, "--delay=soon: not a number"));
  CHECK(noted(refused, "--greylist-txt=x: unknown to postgrey 1.37"));
  CHECK(noted(refused, "-n: postgrey refuses to start with it"));
  CHECK(noted(refused, "--privacy=yes: takes no value"));
  CHECK(noted(refused, "--hostname: needs a value"));
  auto stops = translate_postgrey_options({"--inet=10023", "extra", "--delay=5"}, std::nullopt);
  CHECK(setting(stops, "delay").empty());
  CHECK(noted(stops, "'extra' and what follows: postgrey ignores them"));
  CHECK(noted(translate_postgrey_options({}, std::nullopt), "neither --inet nor --unix"));
}

TEST_CASE("the config file: appended to, the same twice, conflicts, --force, unwritable values") {
  const std::vector<MigratedSetting> wanted = {{"delay", "60", "--delay=60"},
                                               {"lookup-by-host", "true", "--lookup-by-host"},
                                               {"greylist-text", "a # b", "POSTGREY_TEXT"}};
  auto fresh = update_config_text("", wanted, false, "HEAD");
  CHECK(fresh.text ==
        "# HEAD\n# postgrey: --delay=60\ndelay = 60\n# postgrey: --lookup-by-host\n"
        "lookup-by-host = true\n");
  CHECK(fresh.added.size() == 2);
  REQUIRE(fresh.unwritable.size() == 1);
  CHECK(contains(fresh.unwritable[0], "greylist-text (from POSTGREY_TEXT): '#'"));

  // The shipped file (all comments) keeps every line; a second run adds nothing.
  const std::string shipped = "# delay = 300\n## Sockets\n# policy = inet:127.0.0.1:10023\n";
  auto first = update_config_text(shipped, wanted, false, "HEAD");
  CHECK(first.text.rfind(shipped, 0) == 0);
  auto second = update_config_text(first.text, wanted, false, "HEAD");
  CHECK(second.text == first.text);
  CHECK(second.added.empty());
  CHECK(second.unchanged.size() == 2);

  // "yes" means true: the same; another delay: a conflict.
  const std::string mine = "delay = 30   # mine\nlookup-by-host = yes\n";
  auto conflict = update_config_text(mine, wanted, false, "HEAD");
  CHECK(conflict.text == mine);
  REQUIRE(conflict.conflicts.size() == 1);
  CHECK(conflict.conflicts[0] == "1: delay = 30 (wanted: 60, from --delay=60)");
  auto forced = update_config_text(mine, wanted, true, "HEAD");
  CHECK(forced.text ==
        "# replaced by greylistctl migrate-postgrey: delay = 30   # mine\nlookup-by-host = yes\n\n"
        "# HEAD\n# postgrey: --delay=60\ndelay = 60\n");
}

TEST_CASE("the command: dry run writes nothing, a run writes, twice changes nothing, conflicts") {
  const greylist::testing::TempDir scratch_dir("migrate-postgrey");
  const std::string dir = scratch_dir.path();
  REQUIRE(mkdir((dir + "/postgrey").c_str(), 0755) == 0);
  REQUIRE(mkdir((dir + "/etc").c_str(), 0755) == 0);
  write(dir + "/default",
        "POSTGREY_OPTS=\"--inet=10023 --unix=/var/spool/postfix/postgrey/socket --delay=60 "
        "--user=postgrey "
        "--whitelist-recipients=" + dir + "/postgrey/whitelist_recipients\"\n"
        "POSTGREY_TEXT=\"Greylisted for %s seconds\"\n");
  write(dir + "/postgrey/whitelist_clients.local", "mx.friend.test\n10.1.2\n");
  const std::vector<std::string> base = {
      "--dbdir", dir + "/db", "migrate-postgrey", "--postgrey-defaults", dir + "/default",
      "--postgrey-etc", dir + "/postgrey", "--postgrey-dbdir", dir + "/none", "--etc", dir + "/etc"};
  const auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return ctl(args);
  };
  const std::string config = dir + "/etc/greylist-milter.conf";

  const Run dry = run({"--dry-run"});
  CHECK_MESSAGE(dry.status == 0, dry.output);
  CHECK(contains(dry.output, "would add delay = 60 (postgrey: --delay=60)"));
  CHECK(contains(dry.output, "would add greylist-text = Greylisted for %s seconds (postgrey: POSTGREY_TEXT)"));
  CHECK(contains(dry.output, "whitelist " + dir + "/etc/whitelist_clients.local: would copy"));
  CHECK(contains(dry.output, "not carried over: --user=postgrey: greylist-milter runs as its own user"));
  CHECK(contains(dry.output, "not carried over: --whitelist-recipients=" + dir + "/postgrey/whitelist_recipients: greylist-milter's own"));
  CHECK(contains(dry.output, "note: the unit lets the daemon write only in /run/greylist-milter "
                             "and /var/lib/greylist-milter: for the socket "
                             "/var/spool/postfix/postgrey/socket add "
                             "ReadWritePaths=/var/spool/postfix/postgrey"));
  CHECK(access(config.c_str(), F_OK) != 0);
  CHECK(access((dir + "/etc/whitelist_clients.local").c_str(), F_OK) != 0);

  const Run done = run({});
  CHECK_MESSAGE(done.status == 0, done.output);
  CHECK(contains(done.output, "added inet = 10023"));
  CHECK(contains(done.output, "copied " + dir + "/postgrey/whitelist_clients.local"));
  CHECK(contains(done.output, "postgrey database " + dir + "/none: does not exist"));
  const std::string written = read(config);
  CHECK(contains(written, "\ndelay = 60\n"));
  CHECK(contains(written, "\nwhitelist-recipients = " + dir + "/etc/whitelist_recipients\n"));
  CHECK(read(dir + "/etc/whitelist_clients.local") == "mx.friend.test\n10.1.2\n");
  // The daemon's settings, as greylistctl reads them, say the same.
  struct stat st {};
  REQUIRE(stat(config.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);

  const Run twice = run({});
  CHECK(twice.status == 0);
  CHECK(contains(twice.output, "already delay = 60"));
  CHECK(contains(twice.output, "already the same as"));
  CHECK(read(config) == written);

  // Someone changed both: refused, nothing written, until --force.
  write(config, "delay = 30\n");
  write(dir + "/etc/whitelist_clients.local", "mine.test\n");
  const Run refused = run({});
  CHECK(refused.status == 1);
  CHECK(contains(refused.output, "line 1: delay = 30 (wanted: 60, from --delay=60): differs"));
  CHECK(contains(refused.output, "exists and differs from"));
  CHECK(contains(refused.output, "wrote nothing"));
  CHECK(read(config) == "delay = 30\n");
  CHECK(read(dir + "/etc/whitelist_clients.local") == "mine.test\n");
  const Run forced = run({"--force"});
  CHECK_MESSAGE(forced.status == 0, forced.output);
  CHECK(contains(read(config), "# replaced by greylistctl migrate-postgrey: delay = 30\n"));
  CHECK(contains(read(config), "\ndelay = 60\n"));
  CHECK(read(dir + "/etc/whitelist_clients.local") == "mx.friend.test\n10.1.2\n");

  // A result the daemon would refuse is never written.
  write(dir + "/default", "POSTGREY_OPTS=\"--inet=10023 --delay=4000 --retry-window=1h\"\n");
  const std::string before = read(config);
  const Run invalid = run({"--force"});
  CHECK(invalid.status == 1);
  CHECK(contains(invalid.output, "the resulting configuration is refused: option --retry-window"));
  CHECK(read(config) == before);
  CHECK(ctl({"migrate-postgrey", "--postgrey-defaults", dir + "/missing", "--etc", dir + "/etc"})
            .status == 1);
}
TEST_CASE("the command: what the site added to postgrey's main lists goes to our .local files") {
  const greylist::testing::TempDir scratch_dir("migrate-postgrey-lists");
  const std::string dir = scratch_dir.path();
  for (const char* sub : {"/postgrey", "/share", "/etc"}) REQUIRE(mkdir((dir + sub).c_str(), 0755) == 0);
  write(dir + "/default", "POSTGREY_OPTS=\"--inet=10023\"\n");
  write(dir + "/share/whitelist_clients", "# shipped\nmail.one.example\n/^mx\\d+\\.two\\./\n10.20.30\n");
  write(dir + "/postgrey/whitelist_clients",
        "# shipped\nmail.one.example\n10.20.30   # kept\nadded.example\n192.0.2.0/28\n");
  write(dir + "/postgrey/whitelist_clients.local", "mx.friend.test");  // no final newline
  write(dir + "/share/whitelist_recipients", "postmaster@\n");
  write(dir + "/postgrey/whitelist_recipients", "postmaster@\n");  // unchanged: nothing to carry
  const Run run = ctl({"--dbdir", dir + "/db", "migrate-postgrey", "--postgrey-defaults",
                       dir + "/default", "--postgrey-etc", dir + "/postgrey", "--postgrey-share",
                       dir + "/share", "--postgrey-dbdir", dir + "/none", "--etc", dir + "/etc"});
  CHECK_MESSAGE(run.status == 0, run.output);
  CHECK(read(dir + "/etc/whitelist_clients.local") ==
        "mx.friend.test\n# Entries added to " + dir +
            "/postgrey/whitelist_clients (not in postgrey's shipped list),\n"
            "# carried over by greylistctl migrate-postgrey.\nadded.example\n192.0.2.0/28\n");
  CHECK(contains(run.output, "copied " + dir + "/postgrey/whitelist_clients.local and the additions to " +
                                 dir + "/postgrey/whitelist_clients"));
  CHECK(contains(run.output, "not carried over: 1 entries removed from " + dir +
                                 "/postgrey/whitelist_clients"));
  CHECK(access((dir + "/etc/whitelist_recipients.local").c_str(), F_OK) != 0);
}
}  // TEST_SUITE
