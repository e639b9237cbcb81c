#include "config/daemon_options.h"

#include "greylist/ip_address.h"

#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>

namespace po = boost::program_options;

namespace greylist {
namespace {

constexpr std::int64_t kDay = 86400;

Status bad(const std::string& option, const std::string& what) {
  return Status::InvalidArgument("option --" + option + ": " + what);
}

// A whole number in [min, max], nothing else.
Result<std::int64_t> parse_number(const std::string& option, std::string_view text,
                                  std::int64_t min, std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    return bad(option, "'" + std::string(text) + "' is not a whole number from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return value;
}

// postgrey's --retry-window: N days, or N followed by 'h' for hours.
Result<std::int64_t> parse_retry_window(std::string_view text) {
  if (!text.empty() && (text.back() == 'h' || text.back() == 'H')) {
    auto hours = parse_number("retry-window", text.substr(0, text.size() - 1), 1, 24 * 3650);
    if (!hours.ok()) return hours.status();
    return hours.value() * 3600;
  }
  auto days = parse_number("retry-window", text, 1, 3650);
  if (!days.ok()) {
    return bad("retry-window", "'" + std::string(text) +
                                   "' must be a number of days, or a number followed by 'h' "
                                   "for hours ('6h' for example)");
  }
  return days.value() * kDay;
}

Result<int> parse_facility(const std::string& name) {
  static const std::pair<const char*, int> kFacilities[] = {
      {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
      {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
      {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
  for (const auto& [facility_name, value] : kFacilities) {
    if (name == facility_name) return value;
  }
  return bad("syslog-facility", "unknown facility '" + name + "' (mail, daemon, user, local0..7)");
}

std::string default_hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

po::options_description describe_options() {
  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("config", po::value<std::string>(),
       "read options from FILE ('name = value' lines, same names as here); the command line wins")
      ("verbose,v", po::bool_switch(), "log debugging detail too")
      ("log", po::value<std::string>()->default_value("syslog"),
       "where to log: syslog or stderr")
      ("syslog-facility", po::value<std::string>()->default_value("mail"),
       "syslog facility (mail, daemon, user, local0..local7)")
      ("dbdir", po::value<std::string>()->default_value("/var/lib/greylist-milter"),
       "Berkeley DB environment directory (created if missing)")
      ("sync", po::value<std::string>()->default_value("crash-safe"),
       "commit durability: crash-safe (survives a killed daemon) or full (fsync: survives "
       "power loss)")
      ("on-error", po::value<std::string>()->default_value("accept"),
       "answer when the database fails: accept (let mail through) or tempfail")
      ("on-corruption", po::value<std::string>()->default_value("fail"),
       "a Berkeley DB database damaged beyond recovery at start: fail (exit, saying what to "
       "do) or reset (move its files to DBDIR/corrupt-DATE-TIME/ and start empty)")
      ("store", po::value<std::string>()->default_value("bdb"),
       "where the greylist state lives: bdb (Berkeley DB in --dbdir) or redis (a Redis server "
       "shared by several MX hosts)")
      ("redis", po::value<std::string>()->default_value("redis://127.0.0.1:6379/0"),
       "with --store redis: the server, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
       "unix:PATH[?db=DB] (no rediss://: Debian's hiredis has no TLS)")
      ("redis-sentinel", po::value<std::string>()->default_value(""),
       "with --store redis: Sentinels HOST:PORT,... that name the master (--redis then gives "
       "only the login and the database)")
      ("redis-master", po::value<std::string>()->default_value("mymaster"),
       "with --redis-sentinel: the name of the master")
      ("redis-prefix", po::value<std::string>()->default_value("greylist:"),
       "with --store redis: prefix of every key (sites sharing one server use different ones)")
      ("redis-timeout", po::value<std::string>()->default_value("500"),
       "with --store redis: milliseconds one store operation may take, connecting included; "
       "beyond it --on-error answers")
      ("threads", po::value<unsigned>(),
       "threads serving policy connections (default 4; 32 with --sync full, so that many "
       "commits can share one disk flush, and with --store redis, so that many requests wait "
       "for Redis at once)")
      ("policy-max-connections", po::value<std::string>()->default_value("1000"),
       "policy connections served at once; more are closed at once, with a log line")
      ("policy-idle-timeout", po::value<std::string>()->default_value("300"),
       "seconds a policy connection may stay idle before it is closed")
      ("metrics", po::value<std::string>()->default_value("none"),
       "Prometheus metrics endpoint, inet:HOST:PORT (http://HOST:PORT/metrics), or none")
      ("daemonize,d", po::bool_switch(), "run in the background (not under systemd)")
      ("pidfile", po::value<std::string>(), "write the process id to FILE (locked while running)")
      ("user", po::value<std::string>()->default_value("greylist-milter"),
       "user to run as, when started as root")
      ("group", po::value<std::string>(), "group to run as (default: the user's group)");

  po::options_description sockets("Sockets (Postfix syntax: inet:HOST:PORT, inet:[IPV6]:PORT, "
                                  "unix:PATH, none)");
  sockets.add_options()
      ("policy", po::value<std::vector<std::string>>()->composing(),
       "policy-delegation socket, repeatable (default inet:127.0.0.1:10023)")
      ("milter", po::value<std::string>()->default_value("inet:127.0.0.1:8891"), "milter socket")
      ("inet,i", po::value<std::vector<std::string>>()->composing(),
       "postgrey alias: policy socket [HOST:]PORT")
      ("unix,u", po::value<std::vector<std::string>>()->composing(),
       "postgrey alias: policy socket at PATH")
      ("socketmode", po::value<std::string>()->default_value("0666"),
       "permissions of unix sockets (octal)");

  po::options_description decisions("Greylisting (postgrey's options and defaults)");
  decisions.add_options()
      ("delay", po::value<std::string>()->default_value("300"),
       "seconds a new triplet is deferred (0: record only, never defer)")
      ("max-age", po::value<std::string>()->default_value("35"),
       "days an entry may go unseen before it is forgotten")
      ("retry-window", po::value<std::string>()->default_value("2"),
       "days (or hours with an 'h' suffix) within which a retry must come")
      ("greylist-action", po::value<std::string>()->default_value("DEFER_IF_PERMIT"),
       "policy answer for a greylisted triplet (an access(5) action)")
      ("greylist-text", po::value<std::string>()->default_value(std::string(kDefaultGreylistText)),
       "reply text; %s = seconds left, %r = recipient domain")
      ("x-greylist-header",
       po::value<std::string>()->default_value(std::string(kDefaultHeaderTemplate)),
       "header added on the first pass; %t = delay, %v = version, %h = host name, %d = date")
      ("lookup-by-subnet", po::bool_switch(), "key on the client network (the default)")
      ("lookup-by-host", po::bool_switch(), "key on the full client address")
      ("ipv4cidr", po::value<std::string>()->default_value("24"), "IPv4 prefix length of a client network")
      ("ipv6cidr", po::value<std::string>()->default_value("64"), "IPv6 prefix length of a client network")
      ("privacy", po::bool_switch(), "store keyed hashes (HMAC-SHA256) instead of addresses")
      ("privacy-key-file", po::value<std::string>(),
       "secret for --privacy (default DBDIR/privacy.key, created if missing)")
      ("hostname", po::value<std::string>(), "host name for the header (default: this machine's)")
      ("auto-whitelist-clients", po::value<std::string>()->implicit_value("5")->default_value("5"),
       "whitelist a client network after N successful retries (0: off)")
      ("auto-whitelist-domains", po::value<std::string>()->default_value("2"),
       "whitelist a sender domain from a client network after N distinct senders of it passed "
       "(0: off)")
      ("pool-by-domain", po::value<bool>()->default_value(true),
       "key clients with a verified name on its registered domain, so a pool retrying from "
       "another network is the same triplet (yes/no)")
      ("whitelist-clients", po::value<std::vector<std::string>>()->composing(),
       "client whitelist file, repeatable (default /etc/greylist-milter/whitelist_clients and "
       "its .local)")
      ("whitelist-recipients", po::value<std::vector<std::string>>()->composing(),
       "recipient whitelist file, repeatable (default /etc/greylist-milter/whitelist_recipients "
       "and its .local)");

  po::options_description milter("Milter front end");
  milter.add_options()
      ("skip-networks", po::value<std::vector<std::string>>()->composing(),
       "client networks never greylisted by the milter, CIDR, repeatable or comma-separated "
       "(default 127.0.0.0/8,::1/128)")
      ("x-greylist-header-always", po::bool_switch(),
       "add a 'not delayed' X-Greylist header to messages nobody was delayed for")
      ("milter-reply-code", po::value<std::string>()->default_value("450"), "SMTP code of the deferral")
      ("milter-enhanced-code", po::value<std::string>()->default_value("4.2.0"),
       "enhanced status code of the deferral")
      ("milter-max-connections", po::value<std::string>()->default_value("1000"),
       "milter connections (TCP) kept at once; beyond it the most silent are cut off, with a log line")
      ("milter-idle-timeout", po::value<std::string>()->default_value("3600"),
       "seconds a milter connection (TCP) may receive nothing before it is cut off");

  po::options_description all;
  all.add(general).add(sockets).add(decisions).add(milter);
  return all;
}

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

// --store and the Redis options (checked even with --store bdb, so that a
// mistake shows before the day the store is switched).
Status fill_store(const po::variables_map& vm, DaemonOptions& out) {
  const auto store = get<std::string>(vm, "store");
  if (store == "bdb") {
    out.store = DaemonOptions::StoreKind::kBdb;
  } else if (store == "redis") {
    out.store = DaemonOptions::StoreKind::kRedis;
  } else {
    return bad("store", "'" + store + "' must be bdb or redis");
  }
  RedisOptions& redis = out.redis;
  auto url = RedisUrl::parse(get<std::string>(vm, "redis"));
  if (!url.ok()) return bad("redis", url.status().message());
  redis.url = url.value();
  auto sentinels = parse_redis_host_ports(get<std::string>(vm, "redis-sentinel"));
  if (!sentinels.ok()) return bad("redis-sentinel", sentinels.status().message());
  redis.sentinels = sentinels.value();
  if (!redis.sentinels.empty() && redis.url.kind != RedisUrl::Kind::kTcp) {
    return bad("redis-sentinel", "needs a redis:// URL in --redis (for the login and database)");
  }
  redis.master_name = get<std::string>(vm, "redis-master");
  if (redis.master_name.empty() || redis.master_name.size() > 256 ||
      redis.master_name.find_first_of(" \t\r\n") != std::string::npos) {
    return bad("redis-master", "must be a name without spaces");
  }
  redis.prefix = get<std::string>(vm, "redis-prefix");
  if (redis.prefix.empty() || redis.prefix.size() > 256) {
    return bad("redis-prefix", "must be 1 to 256 bytes");
  }
  auto timeout = parse_number("redis-timeout", get<std::string>(vm, "redis-timeout"), 1, 60'000);
  if (!timeout.ok()) return timeout.status();
  redis.timeout = std::chrono::milliseconds(timeout.value());
  return Status::Ok();
}

Status fill(const po::variables_map& vm, DaemonOptions& out) {
  // Logging.
  const auto log_target = get<std::string>(vm, "log");
  if (log_target == "stderr") {
    out.log.target = LogSettings::Target::kStderr;
  } else if (log_target == "syslog") {
    out.log.target = LogSettings::Target::kSyslog;
  } else {
    return bad("log", "'" + log_target + "' must be syslog or stderr");
  }
  auto facility = parse_facility(get<std::string>(vm, "syslog-facility"));
  if (!facility.ok()) return facility.status();
  out.log.syslog_facility = facility.value();
  out.log.verbose = get<bool>(vm, "verbose");

  auto metrics = parse_socket_spec(get<std::string>(vm, "metrics"));
  if (!metrics.ok()) return bad("metrics", metrics.status().message());
  if (metrics.value().kind == SocketSpec::Kind::kUnix) {
    return bad("metrics", "must be inet:HOST:PORT or none");
  }
  out.metrics = metrics.value();
  out.daemonize = get<bool>(vm, "daemonize");
  if (vm.count("pidfile") != 0) out.pidfile = get<std::string>(vm, "pidfile");
  out.user = get<std::string>(vm, "user");
  if (out.user.empty()) return bad("user", "must not be empty");
  if (vm.count("group") != 0) out.group = get<std::string>(vm, "group");

  out.dbdir = get<std::string>(vm, "dbdir");
  if (out.dbdir.empty()) return bad("dbdir", "must not be empty");
  const auto sync = get<std::string>(vm, "sync");
  if (sync != "crash-safe" && sync != "full") return bad("sync", "'" + sync + "' must be crash-safe or full");
  out.sync_full = sync == "full";
  const auto on_corruption = get<std::string>(vm, "on-corruption");
  if (on_corruption != "fail" && on_corruption != "reset") {
    return bad("on-corruption", "'" + on_corruption + "' must be fail or reset");
  }
  out.reset_on_corruption = on_corruption == "reset";
  if (const Status s = fill_store(vm, out); !s.ok()) return s;
  const auto on_error = get<std::string>(vm, "on-error");
  OnError on_error_value;
  if (on_error == "accept") {
    on_error_value = OnError::kAccept;
  } else if (on_error == "tempfail") {
    on_error_value = OnError::kTempfail;
  } else {
    return bad("on-error", "'" + on_error + "' must be accept or tempfail");
  }
  // With --sync full each decision waits for its commit to reach the disk;
  // Berkeley DB flushes the commits that wait together in one fsync, so more
  // threads mean larger groups (measured in bench/analysis.md).
  // With --store redis each decision waits for network round trips to the
  // server: more threads keep more requests in flight.
  const bool waits_a_lot = out.sync_full || out.store == DaemonOptions::StoreKind::kRedis;
  const unsigned threads = vm.count("threads") != 0 ? get<unsigned>(vm, "threads")
                           : waits_a_lot            ? 32u
                                                    : 4u;
  if (threads < 1 || threads > 256) return bad("threads", "must be from 1 to 256");
  out.policy.threads = threads;
  // Policy threads, milter sessions, the expiry sweep: rarely all at once.
  out.redis.max_connections = std::max<std::size_t>(16, threads + 8);
  auto max_connections = parse_number("policy-max-connections",
                                      get<std::string>(vm, "policy-max-connections"), 1, 1'000'000);
  if (!max_connections.ok()) return max_connections.status();
  out.policy.max_connections = static_cast<std::size_t>(max_connections.value());
  auto idle = parse_number("policy-idle-timeout", get<std::string>(vm, "policy-idle-timeout"), 1,
                           86400);
  if (!idle.ok()) return idle.status();
  out.policy.idle_timeout = std::chrono::seconds(idle.value());
  auto milter_max = parse_number("milter-max-connections",
                                 get<std::string>(vm, "milter-max-connections"), 1, 1'000'000);
  if (!milter_max.ok()) return milter_max.status();
  out.milter.limits.max_connections = static_cast<std::size_t>(milter_max.value());
  // Keep it far above smtpd_timeout (300 s): Postfix's connection is silent
  // that long per SMTP command, and during the whole DATA transfer.
  auto milter_idle = parse_number("milter-idle-timeout",
                                  get<std::string>(vm, "milter-idle-timeout"), 1, 7 * 86400);
  if (!milter_idle.ok()) return milter_idle.status();
  out.milter.limits.idle_timeout = std::chrono::seconds(milter_idle.value());

  // Greylisting decisions.
  GreylistConfig& g = out.greylist;
  auto delay = parse_number("delay", get<std::string>(vm, "delay"), 0, 30 * kDay);
  if (!delay.ok()) return delay.status();
  g.delay = delay.value();
  auto max_age = parse_number("max-age", get<std::string>(vm, "max-age"), 1, 3650);
  if (!max_age.ok()) return max_age.status();
  g.max_age = max_age.value() * kDay;
  auto retry = parse_retry_window(get<std::string>(vm, "retry-window"));
  if (!retry.ok()) return retry.status();
  g.retry_window = retry.value();
  if (g.retry_window <= g.delay) {
    return bad("retry-window", "must be longer than --delay, or no retry could ever pass");
  }
  if (get<bool>(vm, "lookup-by-host") && get<bool>(vm, "lookup-by-subnet")) {
    return bad("lookup-by-host", "cannot be combined with --lookup-by-subnet");
  }
  g.lookup_by_host = get<bool>(vm, "lookup-by-host");
  auto v4 = parse_number("ipv4cidr", get<std::string>(vm, "ipv4cidr"), 1, 32);
  if (!v4.ok()) return v4.status();
  g.ipv4_cidr = static_cast<int>(v4.value());
  auto v6 = parse_number("ipv6cidr", get<std::string>(vm, "ipv6cidr"), 1, 128);
  if (!v6.ok()) return v6.status();
  g.ipv6_cidr = static_cast<int>(v6.value());
  g.privacy = get<bool>(vm, "privacy");
  // Empty: privacy.key inside --dbdir.
  if (vm.count("privacy-key-file") != 0) out.privacy_key_file = get<std::string>(vm, "privacy-key-file");
  auto awl = parse_number("auto-whitelist-clients", get<std::string>(vm, "auto-whitelist-clients"),
                          0, 1'000'000);
  if (!awl.ok()) return awl.status();
  g.auto_whitelist_clients = static_cast<std::uint32_t>(awl.value());
  auto domain_awl = parse_number("auto-whitelist-domains",
                                 get<std::string>(vm, "auto-whitelist-domains"), 0, 16);
  if (!domain_awl.ok()) return domain_awl.status();
  g.auto_whitelist_domains = static_cast<std::uint32_t>(domain_awl.value());
  g.pool_by_domain = get<bool>(vm, "pool-by-domain");

  // Whitelist files: any given on the command line replace both defaults.
  const auto whitelist_files = [&](const char* option, const std::string& default_path) {
    std::vector<WhitelistFile> files;
    if (vm.count(option) == 0) {
      files.push_back({default_path, false});
      files.push_back({default_path + ".local", true});
      return files;
    }
    for (const auto& path : get<std::vector<std::string>>(vm, option)) files.push_back({path, false});
    return files;
  };
  out.whitelist_clients =
      whitelist_files("whitelist-clients", "/etc/greylist-milter/whitelist_clients");
  out.whitelist_recipients =
      whitelist_files("whitelist-recipients", "/etc/greylist-milter/whitelist_recipients");

  // Texts shared by both front ends.
  FrontEndSettings common;
  common.greylist_text = get<std::string>(vm, "greylist-text");
  common.header_template = get<std::string>(vm, "x-greylist-header");
  common.hostname = vm.count("hostname") != 0 ? get<std::string>(vm, "hostname") : default_hostname();
  common.on_error = on_error_value;
  if (common.header_template.find(':') == std::string::npos) {
    return bad("x-greylist-header", "must look like 'Name: value'");
  }

  // Sockets.
  unsigned long mode = 0;
  const auto mode_text = get<std::string>(vm, "socketmode");
  auto [ptr, ec] = std::from_chars(mode_text.data(), mode_text.data() + mode_text.size(), mode, 8);
  if (mode_text.empty() || ec != std::errc() || ptr != mode_text.data() + mode_text.size() ||
      mode > 0777) {
    return bad("socketmode", "'" + mode_text + "' is not an octal mode like 0660");
  }
  out.policy.socket_mode = static_cast<unsigned>(mode);
  out.milter.socket_mode = static_cast<unsigned>(mode);

  std::vector<SocketSpec> policy_sockets;
  const bool any_policy = vm.count("policy") + vm.count("inet") + vm.count("unix") > 0;
  std::vector<std::string> policy_texts =
      vm.count("policy") != 0 ? get<std::vector<std::string>>(vm, "policy")
                              : std::vector<std::string>{};
  if (!any_policy) policy_texts.push_back("inet:127.0.0.1:10023");
  for (const auto& text : policy_texts) {
    auto spec = parse_socket_spec(text);
    if (!spec.ok()) return bad("policy", spec.status().message());
    if (spec.value().kind != SocketSpec::Kind::kNone) policy_sockets.push_back(spec.value());
  }
  if (vm.count("inet") != 0) {
    for (const auto& text : get<std::vector<std::string>>(vm, "inet")) {
      auto spec = parse_postgrey_inet(text);
      if (!spec.ok()) return bad("inet", spec.status().message());
      policy_sockets.push_back(spec.value());
    }
  }
  if (vm.count("unix") != 0) {
    for (const auto& text : get<std::vector<std::string>>(vm, "unix")) {
      auto spec = parse_socket_spec("unix:" + text);
      if (!spec.ok()) return bad("unix", spec.status().message());
      policy_sockets.push_back(spec.value());
    }
  }
  out.policy.sockets = policy_sockets;
  out.policy.greylist_action = get<std::string>(vm, "greylist-action");
  if (out.policy.greylist_action.empty() ||
      out.policy.greylist_action.find_first_of("\r\n") != std::string::npos) {
    return bad("greylist-action", "must be one access(5) action on one line");
  }
  out.policy.common = common;

  auto milter_spec = parse_socket_spec(get<std::string>(vm, "milter"));
  if (!milter_spec.ok()) return bad("milter", milter_spec.status().message());
  out.milter.socket = milter_spec.value();
  out.milter.common = common;
  out.milter.header_always = get<bool>(vm, "x-greylist-header-always");
  out.milter.reply_code = get<std::string>(vm, "milter-reply-code");
  if (out.milter.reply_code.size() != 3 || out.milter.reply_code[0] != '4') {
    return bad("milter-reply-code", "must be a 4xx SMTP code such as 450");
  }
  out.milter.enhanced_code = get<std::string>(vm, "milter-enhanced-code");
  if (out.milter.enhanced_code.empty() || out.milter.enhanced_code[0] != '4') {
    return bad("milter-enhanced-code", "must be a 4.x.y enhanced status code such as 4.2.0");
  }
  if (vm.count("skip-networks") != 0) {
    out.milter.skip_networks.clear();
    for (const auto& item : get<std::vector<std::string>>(vm, "skip-networks")) {
      std::string_view rest = item;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view one = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
        while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
        if (one.empty()) continue;
        if (!IpNetwork::parse(one)) {
          return bad("skip-networks", "'" + std::string(one) + "' is not an address or CIDR network");
        }
        out.milter.skip_networks.emplace_back(one);
      }
    }
  }
  if (out.policy.sockets.empty() && out.milter.socket.kind == SocketSpec::Kind::kNone) {
    return Status::InvalidArgument("both front ends are off: give --policy or --milter a socket");
  }
  return Status::Ok();
}

// Boost 1.74's error_with_option_name::what() replaces each placeholder
// ("%canonical_option%", "%value%", ...) in a loop that never ends when the
// text it inserts contains that placeholder: a config line
// "x%canonical_option%y = 1" hung the daemon at start-up (found by
// fuzzing). The inserted names and values lose their '%' first.
std::string error_message(const po::error& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();
  struct Substitutions : po::error_with_option_name {
    static std::map<std::string, std::string>& of(po::error_with_option_name& error) {
      return error.*(&Substitutions::m_substitutions);
    }
  };
  po::error_with_option_name copy = *named;
  for (auto& [placeholder, text] : Substitutions::of(copy)) {
    std::replace(text.begin(), text.end(), '%', '?');
  }
  return copy.what();
}

}  // namespace

Result<ParsedOptions> parse_daemon_options(int argc, const char* const argv[]) {
  ParsedOptions parsed;
  const po::options_description description = describe_options();
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, description), vm);
    if (vm.count("help") != 0) {
      std::cout << "Usage: greylist-milter [options]\n"
                << "Greylisting for Postfix through a milter and a policy-delegation socket.\n"
                << description << "\nSee greylist-milter(8).\n";
      parsed.outcome = ParsedOptions::Outcome::kPrintedHelp;
      return parsed;
    }
    if (vm.count("version") != 0) {
      std::cout << "greylist-milter " << GREYLIST_VERSION << "\n";
      parsed.outcome = ParsedOptions::Outcome::kPrintedVersion;
      return parsed;
    }
    if (vm.count("config") != 0) {
      const auto path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) return Status::InvalidArgument("cannot read config file " + path);
      // Values stored first win, so the command line (stored above) beats the file.
      po::store(po::parse_config_file(file, description), vm);
      parsed.options.config_file = path;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::string message = error_message(e);
    if (!parsed.options.config_file.empty() || vm.count("config") != 0) {
      message += " (command line or " + vm["config"].as<std::string>() + ")";
    }
    return Status::InvalidArgument(message);
  }
  const Status status = fill(vm, parsed.options);
  if (!status.ok()) return status;
  return parsed;
}

std::vector<std::string> daemon_option_names() {
  const po::options_description description = describe_options();
  std::vector<std::string> names;
  for (const auto& option : description.options()) names.push_back(option->long_name());
  return names;
}

}  // namespace greylist
