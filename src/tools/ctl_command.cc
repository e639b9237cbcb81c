#include "tools/ctl_command.h"

#include "config/service_defaults.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "store/bdb_store.h"
#include "store/redis_store.h"
#include "util/privileges.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

constexpr const char* kDefaultConfigFile = "/etc/greylist-milter/greylist-milter.conf";
// The tool's own page cache when it opens the directory itself (a joining
// process uses the daemon's).
constexpr std::size_t kToolCacheBytes = 8 * 1024 * 1024;

std::string os_error(const std::string& what) { return what + ": " + std::strerror(errno); }

Status create_directory(const DaemonOptions& settings) {
  const std::string& dir = settings.dbdir;
  if (geteuid() == 0) {
    auto user = find_service_user(settings.user, settings.group);
    if (user.ok()) return prepare_directory_for(user.value(), dir);
  }
  if (mkdir(dir.c_str(), 0700) != 0) return Status::IoError(os_error("cannot create " + dir));
  return Status::Ok();
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"clients", "[--all] [--domains] [--json] [--auto-whitelist-clients N]",
       "auto-whitelisted client networks: network, count, last seen", run_clients},
      {"dump", "[--json]", "every triplet: client, sender, recipient, first and last seen, passed",
       run_dump},
      {"whitelist-check", "CLIENT_ADDR CLIENT_NAME SENDER RECIPIENT",
       "what the daemon would decide and why, recording nothing", run_whitelist_check},
      {"delete",
       "[--dry-run] (--client-net NET | --triplet ADDR SENDER RECIPIENT [--client-name NAME] | "
       "--key KEY)...",
       "forget a client network, a triplet or a stored key", run_delete},
      {"list-traps", "[--all] [--json]",
       "networks trapped by a greytrap rule: network, trapped since, until", run_list_traps},
      {"delete-trap", "[--dry-run] NETWORK",
       "set a trapped network (or the network of an address) free", run_delete_trap},
      {"expire", "", "remove every expired entry now and print the counts", run_expire},
      {"check-rules", "FILE",
       "check a rules file (--rules) as the daemon loads it; prints the first error as FILE:LINE",
       run_check_rules},
      {"stats", "", "counts of triplets, clients and whitelisted clients; database size",
       run_stats},
      {"check", "[--policy SOCKET]... [--milter SOCKET] [--timeout MS]",
       "health check: a policy probe and a milter negotiation with the running daemon",
       run_check},
      {"import-postgrey", "[--dry-run] [--delay N] DIR",
       "import postgrey's database (postgrey.db, postgrey_clients.db) from DIR",
       run_import_postgrey},
      {"check-whitelists", "",
       "every whitelist line the daemon skips (FILE:LINE: reason); status 1 if any",
       run_check_whitelists},
      {"migrate-postgrey", "[--dry-run] [--force] [--postgrey-defaults FILE] [--etc DIR]...",
       "carry postgrey's settings, whitelist_*.local and database over", run_migrate_postgrey},
      {"export", "[--output FILE] [--store bdb|redis] [--redis URL]...",
       "write every entry of the store to a portable dump (standard output by default)",
       run_export},
      {"import", "[--dry-run] [--store bdb|redis] [--redis URL]... FILE|-",
       "merge a dump written by export into the store (all lines checked before any write)",
       run_import},
  };
  return kCommands;
}

std::string usage_line(const Command& command) {
  std::string line = std::string("usage: greylistctl [--dbdir DIR] [--config FILE] ") + command.name;
  if (command.arguments[0] != '\0') line += std::string(" ") + command.arguments;
  return line;
}

int usage_error(CtlContext& ctx, const char* command_name, const std::string& problem) {
  ctx.err << "greylistctl: " << command_name << ": " << problem << "\n";
  for (const Command& command : commands()) {
    if (std::strcmp(command.name, command_name) == 0) ctx.err << usage_line(command) << "\n";
  }
  return kExitUsage;
}

std::optional<int> parse_arguments(CtlContext& ctx, const char* command_name,
                                   po::options_description options,
                                   const po::positional_options_description& positional,
                                   const std::vector<std::string>& args, po::variables_map& vm) {
  options.add_options()
      ("dbdir", po::value<std::string>(), "database directory (default: the daemon's)")
      ("config", po::value<std::string>(), "the daemon's configuration file")
      ("defaults", po::value<std::string>(),
       "the unit's defaults file with GREYLIST_MILTER_OPTS (default /etc/default/greylist-milter)")
      ("help,h", "print this help");
  try {
    po::store(po::command_line_parser(args)
                  .options(options)
                  .positional(positional)
                  .style(po::command_line_style::default_style &
                         ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(ctx, command_name, e.what());
  }
  if (vm.count("help") != 0) {
    for (const Command& command : commands()) {
      if (std::strcmp(command.name, command_name) == 0) {
        ctx.out << usage_line(command) << "\n" << command.summary << "\n";
      }
    }
    ctx.out << options << "\nSee greylistctl(8).\n";
    return kExitOk;
  }
  if (vm.count("dbdir") != 0) ctx.common.dbdir = vm["dbdir"].as<std::string>();
  if (vm.count("config") != 0) ctx.common.config = vm["config"].as<std::string>();
  if (vm.count("defaults") != 0) ctx.common.defaults = vm["defaults"].as<std::string>();
  return std::nullopt;
}

namespace {
constexpr const char* kStoreOverrides[] = {"store",        "redis",        "redis-sentinel",
                                           "redis-master", "redis-prefix", "redis-timeout"};
}  // namespace

po::options_description store_override_options() {
  po::options_description options("store options (default: the daemon's configuration)");
  options.add_options()
      ("store", po::value<std::string>(), "bdb (Berkeley DB in --dbdir) or redis")
      ("redis", po::value<std::string>(),
       "with --store redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:PATH[?db=DB]")
      ("redis-sentinel", po::value<std::string>(), "with --store redis: Sentinels HOST:PORT,...")
      ("redis-master", po::value<std::string>(), "with --redis-sentinel: the master's name")
      ("redis-prefix", po::value<std::string>(), "with --store redis: the prefix of every key")
      ("redis-timeout", po::value<std::string>(),
       "with --store redis: milliseconds one store operation may take");
  return options;
}

void take_store_overrides(const po::variables_map& vm, CommonOptions& common) {
  for (const char* name : kStoreOverrides) {
    if (vm.count(name) == 0) continue;
    // One "--name=value" argument: a value starting with '-' stays a value.
    common.store_overrides.push_back(std::string("--") + name + "=" + vm[name].as<std::string>());
  }
}

Result<DaemonOptions> load_settings(const CommonOptions& common) {
  std::vector<std::string> ours;
  if (common.dbdir) {
    if (common.dbdir->empty()) return Status::InvalidArgument("option --dbdir: must not be empty");
    ours.insert(ours.end(), {"--dbdir", *common.dbdir});
  }
  ours.insert(ours.end(), common.store_overrides.begin(), common.store_overrides.end());
  auto service = read_service_options(common.defaults.value_or(kServiceDefaultsFile));
  if (!service.ok()) return service.status();
  std::vector<std::string> config;
  if (common.config) {
    config = {"--config", *common.config};
  } else if (access(kDefaultConfigFile, R_OK) == 0) {
    config = {"--config", kDefaultConfigFile};
  }
  auto parsed = parse_daemon_option_layers({ours, service.value(), config});
  if (!parsed.ok()) return parsed.status();
  return std::move(parsed).value().options;
}

Result<OpenedStore> open_store(const DaemonOptions& settings, bool create) {
  OpenedStore out;
  if (settings.store == DaemonOptions::StoreKind::kRedis) {
    auto redis = RedisStore::open(settings.redis);
    if (!redis.ok()) return Status::Unavailable("redis store: " + redis.status().message());
    out.store = std::move(redis).value();
    return out;
  }

  const std::string& dir = settings.dbdir;
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::IoError(os_error("database directory " + dir));
    if (!create) {
      return Status::IoError("database directory " + dir +
                             " does not exist (the daemon creates it when it first starts)");
    }
    if (const Status made = create_directory(settings); !made.ok()) return made;
    if (stat(dir.c_str(), &st) != 0) return Status::IoError(os_error("database directory " + dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("database directory " + dir + " is not a directory");
  }
  // Started as root: what Berkeley DB creates must stay the daemon's user's.
  if (const Status became = become_owner_of(dir, st); !became.ok()) return became;

  BdbOptions options;
  options.directory = dir;
  options.sync = settings.sync_full ? BdbOptions::Sync::kFull : BdbOptions::Sync::kCrashSafe;
  options.cache_bytes = kToolCacheBytes;
  options.checkpoint_interval = std::chrono::seconds(0);
  options.sharing = BdbOptions::Sharing::kJoinIfBusy;
  auto bdb = BdbStore::open(options);
  if (!bdb.ok()) return bdb.status();
  out.bdb = bdb.value().get();
  out.store = std::move(bdb).value();
  return out;
}

Status for_each_entry(CtlContext& ctx, Store& store, Table table,
                      const std::function<bool(const StoreEntry&)>& fn, std::size_t batch) {
  std::string after;
  for (;;) {
    if (ctx.interrupted.load()) return Status::Unavailable("interrupted");
    auto entries = store.scan(table, after, batch);
    if (!entries.ok()) return entries.status();
    for (const StoreEntry& entry : entries.value()) {
      if (!fn(entry)) return Status::Ok();
      if (!ctx.out) return Status::IoError("cannot write the output");
    }
    if (entries.value().size() < batch) return Status::Ok();
    // Keys only grow, so the loop ends with the table.
    if (entries.value().back().key <= after) return Status::IoError("the store's scan went back");
    after = entries.value().back().key;
  }
}

int finish_listing(CtlContext& ctx, const char* command_name, const Status& scanned,
                   std::uint64_t undecodable) {
  ctx.out.flush();
  if (undecodable > 0) {
    ctx.err << "greylistctl: " << command_name << ": " << undecodable
            << " entries could not be decoded\n";
  }
  if (!scanned.ok() || !ctx.out) {
    ctx.err << "greylistctl: " << command_name << ": "
            << (scanned.ok() ? std::string("cannot write the output") : scanned.message()) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace greylist
