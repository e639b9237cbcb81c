#include "config/option_groups.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "config/option_values.h"
#include "dns/dns_servers.h"

namespace po = boost::program_options;

namespace greylist::config {
namespace {

template <typename T>
T get(const po::variables_map& vm, const char* name) {
  return vm[name].as<T>();
}

// A whole-number option in [min, max].
Result<std::int64_t> number(const po::variables_map& vm, const char* name, std::int64_t min,
                            std::int64_t max) {
  return parse_number(name, get<std::string>(vm, name), min, max);
}

// The values of a repeatable option (none when it is not given).
std::vector<std::string> list(const po::variables_map& vm, const char* name) {
  return vm.count(name) != 0 ? get<std::vector<std::string>>(vm, name)
                             : std::vector<std::string>{};
}

std::string default_hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// --log, --syslog-facility, --verbose.
Status fill_logging(const po::variables_map& vm, DaemonOptions& out) {
  const auto log_target = get<std::string>(vm, "log");
  if (log_target == "stderr") {
    out.log.target = LogSettings::Target::kStderr;
  } else if (log_target == "syslog") {
    out.log.target = LogSettings::Target::kSyslog;
  } else {
    return bad("log", "'" + log_target + "' must be syslog or stderr");
  }
  // postgrey's spellings: --syslogfacility, --facility (at most one name).
  std::string facility_name = get<std::string>(vm, "syslog-facility");
  const bool named = !vm["syslog-facility"].defaulted();
  for (const char* alias : {"syslogfacility", "facility"}) {
    if (vm.count(alias) == 0) continue;
    if ((named || facility_name != "mail") && get<std::string>(vm, alias) != facility_name) {
      return bad("syslog-facility",
                 "give one of --syslog-facility, --syslogfacility, --facility (or the same name)");
    }
    facility_name = get<std::string>(vm, alias);
  }
  auto facility = parse_facility(facility_name);
  if (!facility.ok()) return facility.status();
  out.log.syslog_facility = facility.value();
  out.log.verbose = get<bool>(vm, "verbose");
  out.log.quiet = get<bool>(vm, "quiet");
  if (get<bool>(vm, "noaction") || get<bool>(vm, "no-action")) {
    return bad("noaction", "don't know how to \"no-action\" (postgrey refuses it too)");
  }
  return Status::Ok();
}

// --metrics, --daemonize, --pidfile, --user, --group.
Status fill_process(const po::variables_map& vm, DaemonOptions& out) {
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
  return Status::Ok();
}

// --dbdir, --sync, --cache-size, --on-corruption.
Status fill_database(const po::variables_map& vm, DaemonOptions& out) {
  out.dbdir = get<std::string>(vm, "dbdir");
  if (out.dbdir.empty()) return bad("dbdir", "must not be empty");
  const auto sync = get<std::string>(vm, "sync");
  if (sync != "crash-safe" && sync != "full") return bad("sync", "'" + sync + "' must be crash-safe or full");
  out.sync_full = sync == "full";
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  auto cache = parse_byte_size("cache-size", get<std::string>(vm, "cache-size"), kMiB,
                               std::uint64_t{64} << 30);
  if (!cache.ok()) return cache.status();
  out.cache_bytes = static_cast<std::size_t>(cache.value());
  const auto on_corruption = get<std::string>(vm, "on-corruption");
  if (on_corruption != "fail" && on_corruption != "reset") {
    return bad("on-corruption", "'" + on_corruption + "' must be fail or reset");
  }
  out.reset_on_corruption = on_corruption == "reset";
  return Status::Ok();
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
  auto timeout = number(vm, "redis-timeout", 1, 60'000);
  if (!timeout.ok()) return timeout.status();
  redis.timeout = std::chrono::milliseconds(timeout.value());
  return Status::Ok();
}

// --on-error, for both front ends.
Status fill_on_error(const po::variables_map& vm, DaemonOptions& out) {
  const auto on_error = get<std::string>(vm, "on-error");
  if (on_error == "accept") {
    out.policy.common.on_error = OnError::kAccept;
  } else if (on_error == "tempfail") {
    out.policy.common.on_error = OnError::kTempfail;
  } else {
    return bad("on-error", "'" + on_error + "' must be accept or tempfail");
  }
  return Status::Ok();
}

// --threads and the connection limits of both front ends; after the store
// and --sync, which choose the default number of threads.
Status fill_connections(const po::variables_map& vm, DaemonOptions& out) {
  // With --store redis each decision waits for network round trips to the
  // server: more threads keep more requests in flight. --sync full needs no
  // more: the policy threads hold their replies while one flusher thread
  // makes one fsync cover them all (HeldReplies, issue 16).
  const bool waits_a_lot = out.store == DaemonOptions::StoreKind::kRedis;
  const unsigned threads = vm.count("threads") != 0 ? get<unsigned>(vm, "threads")
                           : waits_a_lot            ? 32u
                                                    : 4u;
  if (threads < 1 || threads > 256) return bad("threads", "must be from 1 to 256");
  out.policy.threads = threads;
  // Policy threads, milter sessions, the expiry sweep: rarely all at once.
  out.redis.max_connections = std::max<std::size_t>(16, threads + 8);
  auto max_connections = number(vm, "policy-max-connections", 1, 1'000'000);
  if (!max_connections.ok()) return max_connections.status();
  out.policy.max_connections = static_cast<std::size_t>(max_connections.value());
  auto idle = number(vm, "policy-idle-timeout", 1, 86400);
  if (!idle.ok()) return idle.status();
  out.policy.idle_timeout = std::chrono::seconds(idle.value());
  out.policy.close_after_reply = get<bool>(vm, "exim");
  if (vm.count("listen-queue-size") != 0) {
    // postgrey caps it at 999.
    auto backlog = parse_number("listen-queue-size", get<std::string>(vm, "listen-queue-size"), 1,
                                1'000'000);
    if (!backlog.ok()) return backlog.status();
    out.policy.listen_backlog = static_cast<int>(std::min<std::int64_t>(backlog.value(), 999));
    out.milter.listen_backlog = out.policy.listen_backlog;
  }
  auto milter_max = number(vm, "milter-max-connections", 1, 1'000'000);
  if (!milter_max.ok()) return milter_max.status();
  out.milter.limits.max_connections = static_cast<std::size_t>(milter_max.value());
  // Keep it far above smtpd_timeout (300 s): Postfix's connection is silent
  // that long per SMTP command, and during the whole DATA transfer.
  auto milter_idle = number(vm, "milter-idle-timeout", 1, 7 * 86400);
  if (!milter_idle.ok()) return milter_idle.status();
  out.milter.limits.idle_timeout = std::chrono::seconds(milter_idle.value());
  return Status::Ok();
}

// --delay, --max-age, --retry-window.
Status fill_delays(const po::variables_map& vm, GreylistConfig& g) {
  auto delay = number(vm, "delay", 0, 30 * kDay);
  if (!delay.ok()) return delay.status();
  g.delay = delay.value();
  auto max_age = number(vm, "max-age", 1, 3650);
  if (!max_age.ok()) return max_age.status();
  g.max_age = max_age.value() * kDay;
  auto retry = parse_retry_window(get<std::string>(vm, "retry-window"));
  if (!retry.ok()) return retry.status();
  g.retry_window = retry.value();
  if (g.retry_window <= g.delay) {
    return bad("retry-window", "must be longer than --delay, or no retry could ever pass");
  }
  return Status::Ok();
}

// How triplets are keyed: --lookup-by-host/-subnet, --ipv4cidr, --ipv6cidr,
// --privacy, --privacy-key-file, --pool-by-domain.
Status fill_keying(const po::variables_map& vm, DaemonOptions& out) {
  GreylistConfig& g = out.greylist;
  if (get<bool>(vm, "lookup-by-host") && get<bool>(vm, "lookup-by-subnet")) {
    return bad("lookup-by-host", "cannot be combined with --lookup-by-subnet");
  }
  g.lookup_by_host = get<bool>(vm, "lookup-by-host");
  auto v4 = number(vm, "ipv4cidr", 1, 32);
  if (!v4.ok()) return v4.status();
  g.ipv4_cidr = static_cast<int>(v4.value());
  auto v6 = number(vm, "ipv6cidr", 1, 128);
  if (!v6.ok()) return v6.status();
  g.ipv6_cidr = static_cast<int>(v6.value());
  g.privacy = get<bool>(vm, "privacy");
  // Empty: privacy.key inside --dbdir.
  if (vm.count("privacy-key-file") != 0) out.privacy_key_file = get<std::string>(vm, "privacy-key-file");
  return Status::Ok();
}

// --compat postgrey: the value postgrey has for `name`, unless the option
// was given (command line or config file).
bool postgrey_preset(const po::variables_map& vm, const char* name) {
  return get<std::string>(vm, "compat") == "postgrey" && vm[name].defaulted();
}

// --pool-dynamic-names, --client-awl-key, --dynamic-delay, and what
// --compat postgrey changes; after the other greylisting options.
Status fill_client_kinds(const po::variables_map& vm, GreylistConfig& g) {
  const auto compat = get<std::string>(vm, "compat");
  if (compat != "none" && compat != "postgrey") {
    return bad("compat", "'" + compat + "' must be postgrey or none");
  }
  g.pool_dynamic_names = get<bool>(vm, "pool-dynamic-names");
  const auto key = get<std::string>(vm, "client-awl-key");
  using Key = GreylistConfig::ClientAwlKey;
  if (key == "network") {
    g.client_awl_key = Key::kNetwork;
  } else if (key == "host") {
    g.client_awl_key = Key::kHost;
  } else if (key == "adaptive") {
    g.client_awl_key = Key::kAdaptive;
  } else {
    return bad("client-awl-key", "'" + key + "' must be network, host or adaptive");
  }
  auto dynamic_delay = number(vm, "dynamic-delay", 0, 30 * kDay);
  if (!dynamic_delay.ok()) return dynamic_delay.status();
  g.dynamic_delay = dynamic_delay.value();
  if (postgrey_preset(vm, "pool-by-domain")) g.pool_by_domain = false;
  if (postgrey_preset(vm, "pool-by-spf")) g.pool_by_spf = false;
  if (postgrey_preset(vm, "auto-whitelist-domains")) g.auto_whitelist_domains = 0;
  if (postgrey_preset(vm, "client-awl-key")) g.client_awl_key = Key::kHost;
  if (postgrey_preset(vm, "dynamic-delay")) g.dynamic_delay = 0;
  if (g.retry_window <= g.dynamic_delay) {
    return bad("dynamic-delay", "must be shorter than --retry-window, or no retry could ever pass");
  }
  return Status::Ok();
}

// The greylisting decisions: delays, keying, auto-whitelists.
Status fill_greylisting(const po::variables_map& vm, DaemonOptions& out) {
  GreylistConfig& g = out.greylist;
  if (const Status s = fill_delays(vm, g); !s.ok()) return s;
  if (const Status s = fill_keying(vm, out); !s.ok()) return s;
  auto awl = number(vm, "auto-whitelist-clients", 0, 1'000'000);
  if (!awl.ok()) return awl.status();
  g.auto_whitelist_clients = static_cast<std::uint32_t>(awl.value());
  auto domain_awl = number(vm, "auto-whitelist-domains", 0, 16);
  if (!domain_awl.ok()) return domain_awl.status();
  g.auto_whitelist_domains = static_cast<std::uint32_t>(domain_awl.value());
  g.pool_by_domain = get<bool>(vm, "pool-by-domain");
  g.pool_by_spf = get<bool>(vm, "pool-by-spf");
  return fill_client_kinds(vm, g);
}

// One whitelist option: the files given replace the default and its
// optional .local.
std::vector<WhitelistFile> whitelist_files(const po::variables_map& vm, const char* option,
                                           const std::string& default_path) {
  std::vector<WhitelistFile> files;
  if (vm.count(option) == 0) {
    files.push_back({default_path, false});
    files.push_back({default_path + ".local", true});
    return files;
  }
  for (const auto& path : get<std::vector<std::string>>(vm, option)) files.push_back({path, false});
  return files;
}

// --whitelist-clients, --whitelist-recipients.
Status fill_whitelists(const po::variables_map& vm, DaemonOptions& out) {
  out.whitelist_clients =
      whitelist_files(vm, "whitelist-clients", "/etc/greylist-milter/whitelist_clients");
  out.whitelist_recipients =
      whitelist_files(vm, "whitelist-recipients", "/etc/greylist-milter/whitelist_recipients");
  return Status::Ok();
}

// --rules, --dns-server, --dns-timeout. The rules file itself is read at
// start (and on SIGHUP), not here: greylistctl parses these options too.
Status fill_rules(const po::variables_map& vm, DaemonOptions& out) {
  RulesOptions& rules = out.rules;
  rules.file = get<std::string>(vm, "rules");
  rules.optional = vm["rules"].defaulted();
  for (const auto& server : list(vm, "dns-server")) {
    auto parsed = parse_dns_server(server);  // its message names --dns-server
    if (!parsed.ok()) return parsed.status();
  }
  rules.dns.servers = list(vm, "dns-server");
  auto timeout = number(vm, "dns-timeout", 10, 10'000);
  if (!timeout.ok()) return timeout.status();
  rules.dns.timeout = std::chrono::milliseconds(timeout.value());
  out.policy.common.dns.timeout = rules.dns.timeout;  // fill_milter copies it
  return Status::Ok();
}

// The texts both front ends share: --greylist-text, --x-greylist-header,
// --hostname (--on-error is read before). Kept in out.policy.common until
// fill_milter copies them.
Status fill_texts(const po::variables_map& vm, DaemonOptions& out) {
  FrontEndSettings& common = out.policy.common;
  common.greylist_text = get<std::string>(vm, "greylist-text");
  common.header_template = get<std::string>(vm, "x-greylist-header");
  common.hostname = vm.count("hostname") != 0 ? get<std::string>(vm, "hostname") : default_hostname();
  if (common.header_template.find(':') == std::string::npos) {
    return bad("x-greylist-header", "must look like 'Name: value'");
  }
  return Status::Ok();
}

// --socketmode, for the unix sockets of both front ends.
Status fill_socket_mode(const po::variables_map& vm, DaemonOptions& out) {
  auto mode = parse_socket_mode(get<std::string>(vm, "socketmode"));
  if (!mode.ok()) return mode.status();
  out.policy.socket_mode = mode.value();
  out.milter.socket_mode = mode.value();
  return Status::Ok();
}

// The policy sockets: --policy (default inet:127.0.0.1:10023 unless any of
// --policy, --inet, --unix is given; "none" adds nothing), then postgrey's
// --inet and --unix.
Result<std::vector<SocketSpec>> policy_sockets(const po::variables_map& vm) {
  std::vector<SocketSpec> sockets;
  const bool any_policy = vm.count("policy") + vm.count("inet") + vm.count("unix") > 0;
  std::vector<std::string> policy_texts = list(vm, "policy");
  if (!any_policy) policy_texts.push_back("inet:127.0.0.1:10023");
  for (const auto& text : policy_texts) {
    auto spec = parse_socket_spec(text);
    if (!spec.ok()) return bad("policy", spec.status().message());
    if (spec.value().kind != SocketSpec::Kind::kNone) sockets.push_back(spec.value());
  }
  for (const auto& text : list(vm, "inet")) {
    auto spec = parse_postgrey_inet(text);
    if (!spec.ok()) return bad("inet", spec.status().message());
    sockets.push_back(spec.value());
  }
  for (const auto& text : list(vm, "unix")) {
    auto spec = parse_socket_spec("unix:" + text);
    if (!spec.ok()) return bad("unix", spec.status().message());
    sockets.push_back(spec.value());
  }
  return sockets;
}

// The policy front end: its sockets and --greylist-action.
Status fill_policy(const po::variables_map& vm, DaemonOptions& out) {
  auto sockets = policy_sockets(vm);
  if (!sockets.ok()) return sockets.status();
  out.policy.sockets = sockets.value();
  out.policy.greylist_action = get<std::string>(vm, "greylist-action");
  if (out.policy.greylist_action.empty() ||
      out.policy.greylist_action.find_first_of("\r\n") != std::string::npos) {
    return bad("greylist-action", "must be one access(5) action on one line");
  }
  return Status::Ok();
}

// The milter front end: --milter, --x-greylist-header-always, the reply
// codes, --skip-networks; and the texts it shares with the policy front end.
Status fill_milter(const po::variables_map& vm, DaemonOptions& out) {
  auto milter_spec = parse_socket_spec(get<std::string>(vm, "milter"));
  if (!milter_spec.ok()) return bad("milter", milter_spec.status().message());
  out.milter.socket = milter_spec.value();
  out.milter.common = out.policy.common;
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
    auto networks = parse_network_list(get<std::vector<std::string>>(vm, "skip-networks"));
    if (!networks.ok()) return networks.status();
    out.milter.skip_networks = networks.value();
  }
  return Status::Ok();
}

Status check_front_ends(const po::variables_map&, DaemonOptions& out) {
  if (out.policy.sockets.empty() && out.milter.socket.kind == SocketSpec::Kind::kNone) {
    return Status::InvalidArgument("both front ends are off: give --policy or --milter a socket");
  }
  return Status::Ok();
}

// In this order: with several bad values, the first group's is reported.
using FillGroup = Status (*)(const po::variables_map&, DaemonOptions&);
constexpr FillGroup kGroups[] = {
    fill_logging,     fill_process,     fill_database,   fill_store, fill_on_error,
    fill_connections, fill_greylisting, fill_whitelists, fill_rules, fill_texts, fill_socket_mode,
    fill_policy,      fill_milter,      check_front_ends,
};

}  // namespace

Status fill_daemon_options(const po::variables_map& vm, DaemonOptions& out) {
  for (const FillGroup fill : kGroups) {
    if (const Status status = fill(vm, out); !status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace greylist::config
