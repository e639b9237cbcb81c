#include "config/daemon_options.h"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

#include "config/option_table.h"
#include "support/temp_dir.h"

using namespace greylist;

namespace {
Result<ParsedOptions> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "greylist-milter");
  return parse_daemon_options(static_cast<int>(args.size()), args.data());
}
}  // namespace

TEST_SUITE("daemon_options") {

TEST_CASE("defaults are postgrey's") {
  auto r = parse({});
  REQUIRE(r.ok());
  const DaemonOptions& o = r.value().options;
  CHECK(o.greylist.delay == 300);
  CHECK(o.greylist.retry_window == 2 * 86400);
  CHECK(o.greylist.max_age == 35 * 86400);
  CHECK(o.greylist.auto_whitelist_clients == 5);
  CHECK(o.greylist.ipv4_cidr == 24);
  CHECK(o.greylist.ipv6_cidr == 64);
  CHECK_FALSE(o.greylist.lookup_by_host);
  CHECK(o.dbdir == "/var/lib/greylist-milter");
  REQUIRE(o.policy.sockets.size() == 1);
  CHECK(o.policy.sockets[0].to_string() == "inet:127.0.0.1:10023");
  CHECK(o.milter.socket.to_string() == "inet:127.0.0.1:8891");
  CHECK(o.policy.greylist_action == "DEFER_IF_PERMIT");
  CHECK(o.policy.common.greylist_text == kDefaultGreylistText);
  CHECK(o.log.target == LogSettings::Target::kSyslog);
  CHECK(o.milter.skip_networks.size() == 2);
  CHECK(o.policy.threads == 4);
  CHECK(o.cache_bytes == 64u * 1024 * 1024);
  CHECK(o.milter.limits.max_connections == 1000);
  CHECK(o.milter.limits.idle_timeout == std::chrono::seconds(3600));
}

TEST_CASE("client kinds: defaults, values, and --compat postgrey") {
  auto r = parse({});
  REQUIRE(r.ok());
  const GreylistConfig& d = r.value().options.greylist;
  CHECK(d.pool_by_domain);
  CHECK_FALSE(d.pool_dynamic_names);
  CHECK(d.pool_by_spf);
  REQUIRE(parse({"--pool-by-spf", "no"}).ok());
  CHECK_FALSE(parse({"--pool-by-spf", "no"}).value().options.greylist.pool_by_spf);
  CHECK_FALSE(parse({"--pool-by-spf", "maybe"}).ok());
  CHECK(d.auto_whitelist_domains == 2);
  CHECK(d.client_awl_key == GreylistConfig::ClientAwlKey::kAdaptive);
  CHECK(d.dynamic_delay == 2400);

  auto set = parse({"--pool-dynamic-names", "yes", "--client-awl-key", "network",
                    "--dynamic-delay", "0"});
  REQUIRE(set.ok());
  CHECK(set.value().options.greylist.pool_dynamic_names);
  CHECK(set.value().options.greylist.client_awl_key == GreylistConfig::ClientAwlKey::kNetwork);
  CHECK(set.value().options.greylist.dynamic_delay == 0);

  auto compat = parse({"--compat", "postgrey"});
  REQUIRE(compat.ok());
  const GreylistConfig& c = compat.value().options.greylist;
  CHECK_FALSE(c.pool_by_domain);
  CHECK_FALSE(c.pool_by_spf);  // postgrey checks no SPF
  CHECK(c.auto_whitelist_domains == 0);
  CHECK(c.client_awl_key == GreylistConfig::ClientAwlKey::kHost);
  CHECK(c.dynamic_delay == 0);
  CHECK(c.delay == 300);
  CHECK(c.auto_whitelist_clients == 5);
  // options given explicitly win over the preset
  auto mixed = parse({"--compat", "postgrey", "--pool-by-domain", "yes", "--dynamic-delay", "900",
                      "--pool-by-spf", "yes"});
  REQUIRE(mixed.ok());
  CHECK(mixed.value().options.greylist.pool_by_domain);
  CHECK(mixed.value().options.greylist.pool_by_spf);
  CHECK(mixed.value().options.greylist.dynamic_delay == 900);
  CHECK(mixed.value().options.greylist.auto_whitelist_domains == 0);

  CHECK(parse({"--compat", "milter-greylist"}).status().message() ==
        "option --compat: 'milter-greylist' must be postgrey or none");
  CHECK(parse({"--client-awl-key", "subnet"}).status().message() ==
        "option --client-awl-key: 'subnet' must be network, host or adaptive");
  CHECK_FALSE(parse({"--dynamic-delay", "-1"}).ok());
  CHECK_FALSE(parse({"--dynamic-delay", "3h"}).ok());
  CHECK_FALSE(parse({"--dynamic-delay", "7200", "--retry-window", "2h"}).ok());
}

TEST_CASE("--sync full keeps 4 threads (one flusher shares the fsyncs); --threads wins") {
  auto full = parse({"--sync", "full"});
  REQUIRE(full.ok());
  CHECK(full.value().options.sync_full);
  CHECK(full.value().options.policy.threads == 4);
  auto redis = parse({"--store", "redis"});
  REQUIRE(redis.ok());
  CHECK(redis.value().options.policy.threads == 32);
  auto explicit_threads = parse({"--sync", "full", "--threads", "8"});
  REQUIRE(explicit_threads.ok());
  CHECK(explicit_threads.value().options.policy.threads == 8);
  CHECK_FALSE(parse({"--threads", "0"}).ok());
}

TEST_CASE("--cache-size: bytes or K, M, G; from 1M to 64G") {
  const std::vector<std::pair<const char*, std::uint64_t>> sizes = {
      {"1048576", 1048576}, {"2048K", 2u << 20}, {"256M", 256u << 20}, {"256m", 256u << 20},
      {"2G", std::uint64_t{2} << 30}, {"64G", std::uint64_t{64} << 30}};
  for (const auto& [text, bytes] : sizes) {
    CAPTURE(text);
    auto r = parse({"--cache-size", text});
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r.value().options.cache_bytes == bytes);
  }
  for (const char* bad : {"", "M", "1023K", "65G", "-1M", "1.5G", "12MB", "99999999999999999999G"}) {
    CAPTURE(bad);
    auto r = parse({"--cache-size", bad});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("--cache-size") != std::string::npos);
  }
}

TEST_CASE("postgrey's spellings and units") {
  auto r = parse({"--retry-window", "6h", "--max-age", "10", "--delay", "60", "--inet", "10026",
                  "--auto-whitelist-clients", "--lookup-by-host", "--milter", "none"});
  REQUIRE(r.ok());
  const DaemonOptions& o = r.value().options;
  CHECK(o.greylist.retry_window == 6 * 3600);
  CHECK(o.greylist.max_age == 10 * 86400);
  CHECK(o.greylist.delay == 60);
  CHECK(o.greylist.auto_whitelist_clients == 5);
  CHECK(o.greylist.lookup_by_host);
  REQUIRE(o.policy.sockets.size() == 1);
  CHECK(o.policy.sockets[0].to_string() == "inet:localhost:10026");
  CHECK(o.milter.socket.kind == SocketSpec::Kind::kNone);
}

TEST_CASE("sockets in Postfix syntax, several policy sockets, unix alias") {
  auto r = parse({"--policy", "inet:[::1]:10023", "--policy", "unix:/tmp/p.sock", "--unix",
                  "/tmp/q.sock", "--milter", "inet:[::1]:8891", "--socketmode", "0660"});
  REQUIRE(r.ok());
  const DaemonOptions& o = r.value().options;
  REQUIRE(o.policy.sockets.size() == 3);
  CHECK(o.policy.sockets[0].host == "::1");
  CHECK(o.policy.sockets[1].path == "/tmp/p.sock");
  CHECK(o.policy.sockets[2].path == "/tmp/q.sock");
  CHECK(o.milter.socket.to_libmilter() == "inet6:8891@::1");
  CHECK(o.policy.socket_mode == 0660);
}

TEST_CASE("rules and DNS options: the default file is optional, a given one is not") {
  auto defaults = parse({});
  REQUIRE(defaults.ok());
  const RulesOptions& d = defaults.value().options.rules;
  CHECK(d.file == "/etc/greylist-milter/rules");
  CHECK(d.optional);
  CHECK(d.dns.servers.empty());
  CHECK(d.dns.timeout == std::chrono::milliseconds(1000));

  auto given = parse({"--rules", "/tmp/r", "--dns-server", "127.0.0.1:5353", "--dns-server",
                      "[::1]:53", "--dns-timeout", "250"});
  REQUIRE(given.ok());
  const RulesOptions& g = given.value().options.rules;
  CHECK(g.file == "/tmp/r");
  CHECK_FALSE(g.optional);
  CHECK(g.dns.servers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53"});
  CHECK(g.dns.timeout == std::chrono::milliseconds(250));

  auto none = parse({"--rules", ""});
  REQUIRE(none.ok());
  CHECK(none.value().options.rules.file.empty());
  CHECK_FALSE(none.value().options.rules.optional);
}

TEST_CASE("bad values are refused with a message naming the option") {
  const std::vector<std::pair<std::vector<const char*>, const char*>> cases = {
      {{"--delay", "abc"}, "--delay"},
      {{"--delay", "-1"}, "--delay"},
      {{"--max-age", "0"}, "--max-age"},
      {{"--retry-window", "2d"}, "--retry-window"},
      {{"--retry-window", "1h", "--delay", "7200"}, "--retry-window"},
      {{"--ipv4cidr", "33"}, "--ipv4cidr"},
      {{"--ipv6cidr", "0"}, "--ipv6cidr"},
      {{"--policy", "tcp:1.2.3.4:5"}, "--policy"},
      {{"--policy", "inet:127.0.0.1:99999"}, "--policy"},
      {{"--milter", "inet:::1:8891"}, "--milter"},
      {{"--log", "file"}, "--log"},
      {{"--on-error", "maybe"}, "--on-error"},
      {{"--sync", "sometimes"}, "--sync"},
      {{"--socketmode", "999"}, "--socketmode"},
      {{"--skip-networks", "10.0.0.0/40"}, "--skip-networks"},
      {{"--milter-reply-code", "550"}, "--milter-reply-code"},
      {{"--milter-max-connections", "0"}, "--milter-max-connections"},
      {{"--milter-idle-timeout", "soon"}, "--milter-idle-timeout"},
      {{"--lookup-by-host", "--lookup-by-subnet"}, "--lookup-by-host"},
      {{"--dns-server", "dns.example"}, "--dns-server"},
      {{"--dns-server", "127.0.0.1:0"}, "--dns-server"},
      {{"--dns-timeout", "0"}, "--dns-timeout"},
      {{"--dns-timeout", "60000"}, "--dns-timeout"},
      {{"--no-such-option"}, "no-such-option"},
  };
  for (const auto& [args, needle] : cases) {
    CAPTURE(needle);
    auto r = parse(args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find(needle) != std::string::npos);
  }
}

TEST_CASE("with several bad values, the one checked first is reported, in the groups' order") {
  // The order fill() had before it became one function per group: logging,
  // process, database, store, --on-error, connections, greylisting, texts,
  // sockets, policy, milter.
  const std::vector<std::pair<std::vector<const char*>, const char*>> cases = {
      {{"--delay", "x", "--log", "file"}, "--log"},
      {{"--threads", "0", "--on-error", "maybe"}, "--on-error"},
      {{"--policy-idle-timeout", "0", "--store", "mysql"}, "--store"},
      {{"--max-age", "0", "--milter-idle-timeout", "0"}, "--milter-idle-timeout"},
      {{"--x-greylist-header", "no colon", "--ipv4cidr", "40"}, "--ipv4cidr"},
      {{"--greylist-action", "", "--socketmode", "999"}, "--socketmode"},
      {{"--milter-reply-code", "550", "--policy", "tcp:x"}, "--policy"},
  };
  for (const auto& [args, needle] : cases) {
    CAPTURE(needle);
    auto r = parse(args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find(needle) != std::string::npos);
  }
}

TEST_CASE("both front ends off is refused") {
  auto r = parse({"--policy", "none", "--milter", "none"});
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("config file: same names, command line wins, errors name the file") {
  const testing::TempDir scratch("greylist-milter-options-test");
  const std::string path = scratch.file("greylist-milter.conf");
  {
    std::ofstream f(path);
    f << "# comment\ndelay = 120\nmax-age = 7\ngreylist-text = Come back in %s seconds\n";
  }
  auto r = parse({"--config", path.c_str(), "--delay", "30"});
  REQUIRE(r.ok());
  CHECK(r.value().options.greylist.delay == 30);
  CHECK(r.value().options.greylist.max_age == 7 * 86400);
  CHECK(r.value().options.policy.common.greylist_text == "Come back in %s seconds");
  {
    std::ofstream f(path);
    f << "delya = 120\n";
  }
  auto bad = parse({"--config", path.c_str()});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("delya") != std::string::npos);
  auto missing = parse({"--config", "/nonexistent/greylist.conf"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("/nonexistent/greylist.conf") != std::string::npos);
}

// Regression (config_fuzzer): Boost's error message substitution looped
// forever when an option name or value contained its own placeholder. Each
// parse runs in a child process, so a regression fails instead of hanging.
TEST_CASE("config lines holding Boost's message placeholders give an error, not a hang") {
  const testing::TempDir scratch("greylist-milter-placeholder-test");
  const std::string path = scratch.file("greylist-milter.conf");
  for (const char* line : {"x%canonical_option%y = 1\n", "%option% = 1\n",
                           "threads = %value%\n", "pool-by-domain = %value%x\n",
                           "delay = 1\ndelay = %canonical_option%\n", "%prefix%\n"}) {
    CAPTURE(line);
    { std::ofstream(path) << line; }
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const auto r = parse({"--config", path.c_str()});
      _exit(!r.ok() && r.status().message().find('\n') == std::string::npos ? 0 : 1);
    }
    int status = -1;
    for (int i = 0; i < 200 && waitpid(child, &status, WNOHANG) == 0; ++i) usleep(50'000);
    if (waitpid(child, &status, WNOHANG) == 0) {
      kill(child, SIGKILL);
      waitpid(child, &status, 0);
      FAIL("parse_daemon_options did not return within 10 s");
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("--help shows a yes/no option's default as yes or no, as the options are written") {
  namespace po = boost::program_options;
  const po::options_description described = greylist::config::describe_options();
  int yes_no = 0;
  for (const auto& option : described.options()) {
    const auto& semantic = option->semantic();
    // A bool_switch takes no value and shows no default.
    if (dynamic_cast<const po::typed_value<bool>*>(semantic.get()) == nullptr ||
        semantic->max_tokens() == 0) {
      continue;
    }
    CAPTURE(option->long_name());
    const std::string shown = option->format_parameter();
    CHECK((shown == "arg (=yes)" || shown == "arg (=no)"));
    ++yes_no;
  }
  CHECK(yes_no >= 3);  // --pool-by-domain, --pool-by-spf, --pool-dynamic-names
}

TEST_CASE("the man page and the sample configuration document every option") {
  const auto read = [](const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string man = read(std::string(SOURCE_ROOT) + "/man/greylist-milter.8");
  const std::string conf = read(std::string(SOURCE_ROOT) + "/conf/greylist-milter.conf");
  for (const auto& name : daemon_option_names()) {
    CAPTURE(name);
    CHECK(man.find("\\-\\-" + name) != std::string::npos);  // roff spells "--" as "\\-\\-"
    const bool command_only = name == "help" || name == "version" || name == "config" ||
                              name == "inet" || name == "unix" || name == "man";
    if (!command_only) CHECK(conf.find("# " + name + " = ") != std::string::npos);
  }
}

TEST_CASE("the sample configuration, uncommented, parses to the defaults") {
  std::ifstream in(std::string(SOURCE_ROOT) + "/conf/greylist-milter.conf");
  REQUIRE(in);
  const testing::TempDir scratch("greylist-milter-sample-test");
  const std::string path = scratch.file("greylist-milter.conf");
  std::ofstream out(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0 && line.find(" = ") != std::string::npos &&
        line.find("(this machine") == std::string::npos) {
      out << line.substr(2) << "\n";
    }
  }
  out.close();
  auto from_file = parse({"--config", path.c_str()});
  REQUIRE(from_file.ok());
  auto defaults = parse({});
  REQUIRE(defaults.ok());
  const DaemonOptions& a = from_file.value().options;
  const DaemonOptions& b = defaults.value().options;
  CHECK(a.greylist.delay == b.greylist.delay);
  CHECK(a.greylist.retry_window == b.greylist.retry_window);
  CHECK(a.greylist.max_age == b.greylist.max_age);
  CHECK(a.greylist.auto_whitelist_clients == b.greylist.auto_whitelist_clients);
  CHECK(a.policy.common.greylist_text == b.policy.common.greylist_text);
  CHECK(a.policy.common.header_template == b.policy.common.header_template);
  CHECK(a.policy.sockets[0].to_string() == b.policy.sockets[0].to_string());
  CHECK(a.milter.socket.to_string() == b.milter.socket.to_string());
  CHECK(a.milter.skip_networks == b.milter.skip_networks);
  CHECK(a.dbdir == b.dbdir);
}

}  // TEST_SUITE
