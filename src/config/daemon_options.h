// DaemonOptions: everything greylist-milter can be told, from the command
// line and the configuration file (Boost.Program_options).
//
// The module of src/config/, shared by the daemon and greylistctl (which
// reads the daemon's config file): each setting has one name, one default
// and one description, in option_table.cc; option_groups.cc checks and
// converts them group by group. The man page and conf/greylist-milter.conf
// say the same. Names and meanings follow postgrey where they overlap.
#pragma once

#include <string>
#include <vector>

#include "greylist/ares_resolver.h"
#include "greylist/greylist_config.h"
#include "greylist/static_whitelist.h"
#include "greylist/status.h"
#include "milter/milter_server.h"
#include "policy/policy_server.h"
#include "store/redis_store.h"
#include "util/log.h"

namespace greylist {

// --rules, --dns-server, --dns-timeout (issue 14).
struct RulesOptions {
  std::string file;  // --rules; empty: no rules ('--rules ""')
  // Set when `file` is --rules' default (/etc/greylist-milter/rules), read
  // only when it exists; a file named by --rules must exist.
  bool optional = false;
  // The resolver's servers (checked "HOST[:PORT]" texts; empty: those of
  // /etc/resolv.conf) and timeout. The daemon builds an AresResolver only
  // when the rules use DNS lists.
  AresResolverOptions dns;
};

struct DaemonOptions {
  GreylistConfig greylist;
  PolicySettings policy;  // policy.sockets empty = policy front end off
  MilterSettings milter;  // milter.socket.kind == kNone = milter front end off
  LogSettings log;
  std::string dbdir = "/var/lib/greylist-milter";
  enum class StoreKind { kBdb, kRedis };
  StoreKind store = StoreKind::kBdb;  // --store
  // --redis, --redis-sentinel, --redis-master, --redis-prefix, --redis-timeout
  // (checked whatever --store says, used with --store redis).
  RedisOptions redis;
  bool sync_full = false;           // --sync full: fsync every commit
  std::size_t cache_bytes = 64 * 1024 * 1024;  // --cache-size: the Berkeley DB cache
  // --on-corruption reset: a database beyond recovery at start is moved
  // aside and the daemon starts empty (default fail: exit, saying what to do).
  bool reset_on_corruption = false;
  std::string privacy_key_file;     // --privacy-key-file (empty: privacy.key in --dbdir)
  std::string config_file;          // --config, for messages
  SocketSpec metrics;               // --metrics (kNone: off)
  bool daemonize = false;           // --daemonize: detach, as postgrey -d
  std::string pidfile;              // --pidfile (none by default)
  std::string user = "greylist-milter";  // --user: drop to it when started as root
  std::string group;                // --group (default: the user's own group)
  // --whitelist-clients / --whitelist-recipients; given files replace the
  // defaults (/etc/greylist-milter/whitelist_* and their optional .local).
  std::vector<WhitelistFile> whitelist_clients;
  std::vector<WhitelistFile> whitelist_recipients;
  RulesOptions rules;
};

// What parse_daemon_options() asks the caller to do.
struct ParsedOptions {
  enum class Outcome { kRun, kPrintedHelp, kPrintedVersion };
  Outcome outcome = Outcome::kRun;
  DaemonOptions options;
};

// Parses argv (and the --config file it names; the command line wins).
// --help / --version print to stdout. On an unknown option or bad value the
// Status message is one line naming the option and what is wrong; the
// caller prints it and exits with status 2.
Result<ParsedOptions> parse_daemon_options(int argc, const char* const argv[]);

// The same from several command lines, the earlier winning over the later
// (greylistctl: its own --dbdir and store options, then the unit's
// GREYLIST_MILTER_OPTS, then --config FILE), then the config file; list
// options compose. Without --help/--version handling (never kRun otherwise).
Result<ParsedOptions> parse_daemon_option_layers(const std::vector<std::vector<std::string>>& layers);

// parse_daemon_options() again while the daemon runs (SIGHUP): `args` is
// the start's argv without the program name, `directory` the working
// directory at start. A relative --config path and every relative path in
// the result are taken from `directory`, as they were at start.
Result<ParsedOptions> reparse_daemon_options(const std::vector<std::string>& args,
                                             const std::string& directory);

// Makes the options' relative paths (--dbdir, --pidfile, --privacy-key-file, --rules,
// whitelist files, unix sockets) absolute from `directory`: the daemon
// changes directory after start-up.
void make_paths_absolute(DaemonOptions& options, const std::string& directory);

// The long name of every option, for checks that the man page and the
// sample configuration document them all.
std::vector<std::string> daemon_option_names();

}  // namespace greylist
