#include "daemon/config_reload.h"

#include <tuple>

namespace greylist {
namespace {

using Options = DaemonOptions;

// Equality for the settings' types that have no operator==.
template <typename T>
bool same(const T& a, const T& b) {
  return a == b;
}
bool same(const SocketSpec& a, const SocketSpec& b) { return a.to_string() == b.to_string(); }
bool same(const WhitelistFile& a, const WhitelistFile& b) {
  return a.path == b.path && a.optional == b.optional;
}
bool same(const RedisHostPort& a, const RedisHostPort& b) { return a.to_string() == b.to_string(); }
bool same(const RedisUrl& a, const RedisUrl& b) {
  return a.to_string() == b.to_string() && a.password == b.password;
}
template <typename T>
bool same(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!same(a[i], b[i])) return false;
  }
  return true;
}
template <typename... T>
bool same(const std::tuple<T&...>& a, const std::tuple<T&...>& b) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (same(std::get<I>(a), std::get<I>(b)) && ...);
  }(std::index_sequence_for<T...>{});
}

struct Row {
  SettingReload info;
  bool (*differs)(const Options& running, const Options& fresh);
  void (*adopt)(Options& running, const Options& fresh);
};

// `Field` is a stateless lambda giving the setting's member (or a std::tie
// of the members one option sets) of a DaemonOptions, const or not.
template <typename Field>
Row row(const char* options, bool reloadable, Field) {
  return {{options, reloadable},
          [](const Options& running, const Options& fresh) {
            return !same(Field{}(running), Field{}(fresh));
          },
          [](Options& running, const Options& fresh) { Field{}(running) = Field{}(fresh); }};
}

constexpr bool kReload = true;
constexpr bool kRestart = false;

// Declarative table (function_length allow-list): one row per setting.
// Restart-only: what is bound or opened at start (sockets, store,
// database, process, privileges), and what decides the keys entries are
// stored under (a change would orphan every entry).
const std::vector<Row>& rows() {
  static const std::vector<Row> table = {
      row("verbose", kReload, [](auto& o) -> auto& { return o.log.verbose; }),
      row("log", kRestart, [](auto& o) -> auto& { return o.log.target; }),
      row("syslog-facility syslogfacility facility", kRestart,
          [](auto& o) -> auto& { return o.log.syslog_facility; }),
      row("quiet", kReload, [](auto& o) -> auto& { return o.log.quiet; }),
      row("dbdir", kRestart, [](auto& o) -> auto& { return o.dbdir; }),
      row("sync", kRestart, [](auto& o) -> auto& { return o.sync_full; }),
      row("cache-size", kRestart, [](auto& o) -> auto& { return o.cache_bytes; }),
      row("on-error", kReload,
          [](auto& o) { return std::tie(o.policy.common.on_error, o.milter.common.on_error); }),
      row("on-corruption", kRestart, [](auto& o) -> auto& { return o.reset_on_corruption; }),
      row("store", kRestart, [](auto& o) -> auto& { return o.store; }),
      row("redis", kRestart, [](auto& o) -> auto& { return o.redis.url; }),
      row("redis-sentinel", kRestart, [](auto& o) -> auto& { return o.redis.sentinels; }),
      row("redis-master", kRestart, [](auto& o) -> auto& { return o.redis.master_name; }),
      row("redis-prefix", kRestart, [](auto& o) -> auto& { return o.redis.prefix; }),
      row("redis-timeout", kRestart, [](auto& o) -> auto& { return o.redis.timeout; }),
      row("threads", kRestart,
          [](auto& o) { return std::tie(o.policy.threads, o.redis.max_connections); }),
      row("policy-max-connections", kRestart,
          [](auto& o) -> auto& { return o.policy.max_connections; }),
      row("policy-idle-timeout", kRestart, [](auto& o) -> auto& { return o.policy.idle_timeout; }),
      row("metrics", kRestart, [](auto& o) -> auto& { return o.metrics; }),
      row("daemonize", kRestart, [](auto& o) -> auto& { return o.daemonize; }),
      row("pidfile", kRestart, [](auto& o) -> auto& { return o.pidfile; }),
      row("user", kRestart, [](auto& o) -> auto& { return o.user; }),
      row("group", kRestart, [](auto& o) -> auto& { return o.group; }),
      row("exim", kRestart, [](auto& o) -> auto& { return o.policy.close_after_reply; }),
      row("listen-queue-size", kRestart,
          [](auto& o) { return std::tie(o.policy.listen_backlog, o.milter.listen_backlog); }),
      row("policy inet unix", kRestart, [](auto& o) -> auto& { return o.policy.sockets; }),
      row("milter", kRestart, [](auto& o) -> auto& { return o.milter.socket; }),
      row("socketmode", kRestart,
          [](auto& o) { return std::tie(o.policy.socket_mode, o.milter.socket_mode); }),
      row("delay", kReload, [](auto& o) -> auto& { return o.greylist.delay; }),
      row("max-age", kReload, [](auto& o) -> auto& { return o.greylist.max_age; }),
      row("retry-window", kReload, [](auto& o) -> auto& { return o.greylist.retry_window; }),
      row("greylist-action", kReload, [](auto& o) -> auto& { return o.policy.greylist_action; }),
      row("greylist-text", kReload,
          [](auto& o) {
            return std::tie(o.policy.common.greylist_text, o.milter.common.greylist_text);
          }),
      row("x-greylist-header", kReload,
          [](auto& o) {
            return std::tie(o.policy.common.header_template, o.milter.common.header_template);
          }),
      row("lookup-by-host lookup-by-subnet", kRestart,
          [](auto& o) -> auto& { return o.greylist.lookup_by_host; }),
      row("ipv4cidr", kRestart, [](auto& o) -> auto& { return o.greylist.ipv4_cidr; }),
      row("ipv6cidr", kRestart, [](auto& o) -> auto& { return o.greylist.ipv6_cidr; }),
      row("privacy", kRestart, [](auto& o) -> auto& { return o.greylist.privacy; }),
      row("privacy-key-file", kRestart, [](auto& o) -> auto& { return o.privacy_key_file; }),
      row("hostname", kReload,
          [](auto& o) { return std::tie(o.policy.common.hostname, o.milter.common.hostname); }),
      row("auto-whitelist-clients", kReload,
          [](auto& o) -> auto& { return o.greylist.auto_whitelist_clients; }),
      row("auto-whitelist-domains", kReload,
          [](auto& o) -> auto& { return o.greylist.auto_whitelist_domains; }),
      row("pool-by-domain", kRestart, [](auto& o) -> auto& { return o.greylist.pool_by_domain; }),
      row("pool-dynamic-names", kRestart,
          [](auto& o) -> auto& { return o.greylist.pool_dynamic_names; }),
      // Keys, and the SPF checker is made once at start.
      row("pool-by-spf", kRestart, [](auto& o) -> auto& { return o.greylist.pool_by_spf; }),
      row("client-awl-key", kRestart, [](auto& o) -> auto& { return o.greylist.client_awl_key; }),
      row("dynamic-delay", kReload, [](auto& o) -> auto& { return o.greylist.dynamic_delay; }),
      row("whitelist-clients", kReload, [](auto& o) -> auto& { return o.whitelist_clients; }),
      row("whitelist-recipients", kReload,
          [](auto& o) -> auto& { return o.whitelist_recipients; }),
      row("skip-networks", kRestart, [](auto& o) -> auto& { return o.milter.skip_networks; }),
      row("x-greylist-header-always", kReload,
          [](auto& o) -> auto& { return o.milter.header_always; }),
      row("milter-reply-code", kReload, [](auto& o) -> auto& { return o.milter.reply_code; }),
      row("milter-enhanced-code", kReload, [](auto& o) -> auto& { return o.milter.enhanced_code; }),
      row("milter-max-connections", kRestart,
          [](auto& o) -> auto& { return o.milter.limits.max_connections; }),
      row("milter-idle-timeout", kRestart,
          [](auto& o) -> auto& { return o.milter.limits.idle_timeout; }),
      row("rules", kReload, [](auto& o) { return std::tie(o.rules.file, o.rules.optional); }),
      // The resolver, its cache and its deadline are made once.
      row("dns-server", kRestart, [](auto& o) -> auto& { return o.rules.dns.servers; }),
      row("dns-timeout", kRestart, [](auto& o) -> auto& { return o.rules.dns.timeout; }),
  };
  return table;
}

// The first name of a row's options.
std::string first_option(const char* options) {
  const std::string names = options;
  return names.substr(0, names.find(' '));
}

}  // namespace

const std::vector<SettingReload>& setting_reload_table() {
  static const std::vector<SettingReload> table = [] {
    std::vector<SettingReload> out;
    for (const Row& r : rows()) out.push_back(r.info);
    return out;
  }();
  return table;
}

ReloadOutcome compare_settings(const DaemonOptions& running, const DaemonOptions& fresh) {
  ReloadOutcome outcome{running, {}, {}};
  for (const Row& r : rows()) {
    if (!r.differs(running, fresh)) continue;
    if (r.info.reloadable) {
      r.adopt(outcome.options, fresh);
      outcome.applied.push_back(first_option(r.info.options));
    } else {
      outcome.need_restart.push_back(first_option(r.info.options));
    }
  }
  return outcome;
}

Result<ReloadOutcome> ConfigReload::read(const DaemonOptions& running) const {
  auto parsed = reparse_daemon_options(args_, directory_);
  if (!parsed.ok()) return parsed.status();
  return compare_settings(running, parsed.value().options);
}

}  // namespace greylist
