// greylistctl's commands and what they share: the command table, argument
// parsing, the daemon's settings (src/config/), the store, scans.
//
// Every command is a function taking the context and its arguments (what
// follows the command name) and returning the process exit status:
// kExitOk, kExitFailure (the store or a check failed, nothing matched) or
// kExitUsage (bad arguments: a "usage:" line on stderr). Commands print
// results on ctx.out and diagnostics on ctx.err; they never throw.
#pragma once

#include <atomic>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "config/daemon_options.h"
#include "config/privacy_key.h"  // read_privacy_key, for the commands
#include "greylist/status.h"
#include "greylist/store.h"

namespace greylist {

class BdbStore;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Options every command takes, before or after its name.
struct CommonOptions {
  std::optional<std::string> dbdir;   // --dbdir: overrides the config file's
  std::optional<std::string> config;  // --config: the daemon's config file
  // --defaults: the unit's /etc/default/greylist-milter (GREYLIST_MILTER_OPTS)
  std::optional<std::string> defaults;
  // Daemon options naming the store ("--store=redis", "--redis=URL"...),
  // given on greylistctl's command line: they beat the config file.
  std::vector<std::string> store_overrides;
};

struct CtlContext {
  CommonOptions common;
  std::ostream& out;
  std::ostream& err;
  // Set by SIGINT, SIGTERM, SIGHUP: commands stop between two store calls,
  // so no transaction is left open in a shared environment.
  const std::atomic<bool>& interrupted;
};

struct Command {
  const char* name;
  const char* arguments;  // usage after the name, e.g. "[--all] [--json]"
  const char* summary;
  int (*run)(CtlContext& ctx, const std::vector<std::string>& args);
};

// Every command, in the order the help lists them.
const std::vector<Command>& commands();

int run_clients(CtlContext& ctx, const std::vector<std::string>& args);
int run_dump(CtlContext& ctx, const std::vector<std::string>& args);
int run_whitelist_check(CtlContext& ctx, const std::vector<std::string>& args);
int run_delete(CtlContext& ctx, const std::vector<std::string>& args);
int run_expire(CtlContext& ctx, const std::vector<std::string>& args);
int run_stats(CtlContext& ctx, const std::vector<std::string>& args);
int run_check(CtlContext& ctx, const std::vector<std::string>& args);
int run_check_rules(CtlContext& ctx, const std::vector<std::string>& args);
int run_import_postgrey(CtlContext& ctx, const std::vector<std::string>& args);
int run_migrate_postgrey(CtlContext& ctx, const std::vector<std::string>& args);
int run_check_whitelists(CtlContext& ctx, const std::vector<std::string>& args);
int run_export(CtlContext& ctx, const std::vector<std::string>& args);
int run_import(CtlContext& ctx, const std::vector<std::string>& args);
int run_list_traps(CtlContext& ctx, const std::vector<std::string>& args);
int run_delete_trap(CtlContext& ctx, const std::vector<std::string>& args);

// "usage: greylistctl [--dbdir DIR] [--config FILE] NAME ARGUMENTS".
std::string usage_line(const Command& command);

// Prints "greylistctl: NAME: problem" and the usage line on ctx.err;
// returns kExitUsage.
int usage_error(CtlContext& ctx, const char* command_name, const std::string& problem);

// Parses a command's arguments against `options` (to which --dbdir,
// --config and --help are added) and `positional`. nullopt: run the
// command (vm is filled, ctx.common updated). Otherwise the exit status:
// kExitOk after --help (usage and options printed on ctx.out), kExitUsage
// after a bad argument (usage_error printed).
std::optional<int> parse_arguments(CtlContext& ctx, const char* command_name,
                                   boost::program_options::options_description options,
                                   const boost::program_options::positional_options_description& positional,
                                   const std::vector<std::string>& args,
                                   boost::program_options::variables_map& vm);

// --store, --redis, --redis-sentinel, --redis-master, --redis-prefix and
// --redis-timeout as the daemon takes them, for commands that may work on
// another store than the configured one (export, import).
boost::program_options::options_description store_override_options();
// Keeps those of them given in `vm` for load_settings.
void take_store_overrides(const boost::program_options::variables_map& vm, CommonOptions& common);

// The daemon's settings, from the sources the systemd unit gives it, in
// its order: the config file (--config, else
// /etc/greylist-milter/greylist-milter.conf when it exists), overridden by
// GREYLIST_MILTER_OPTS of /etc/default/greylist-milter (--defaults), both
// overridden by greylistctl's own --dbdir and store options. Errors name
// the file and the option.
Result<DaemonOptions> load_settings(const CommonOptions& common);

// The store the daemon uses (--store): the Berkeley DB environment in
// --dbdir, joined when the daemon runs (BdbOptions::Sharing::kJoinIfBusy),
// or the Redis server. Started as root, the process first becomes the owner
// of --dbdir for good (so files Berkeley DB creates stay the service
// user's): read every root-only file before. With create_directory a
// missing --dbdir is created (mode 0700, given to --user when root).
struct OpenedStore {
  std::unique_ptr<Store> store;
  BdbStore* bdb = nullptr;  // the same store when it is Berkeley DB
};
Result<OpenedStore> open_store(const DaemonOptions& settings, bool create_directory);

// Calls fn for every entry of `table` in key order, reading `batch`
// entries per (short) transaction, until fn returns false. Stops with
// Unavailable("interrupted") when ctx.interrupted is set, and with
// IoError when ctx.out can no longer be written (a closed pipe).
Status for_each_entry(CtlContext& ctx, Store& store, Table table,
                      const std::function<bool(const StoreEntry&)>& fn, std::size_t batch = 1000);

// The end of a listing command (clients, dump, list-traps): flushes
// ctx.out, reports the `undecodable` entries skipped and a failed scan or
// output on ctx.err; the exit status (kExitFailure for the latter two).
int finish_listing(CtlContext& ctx, const char* command_name, const Status& scanned,
                   std::uint64_t undecodable);

}  // namespace greylist
