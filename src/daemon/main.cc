// greylist-milter: one process, two front ends (milter, policy), one core.
//
// Exposure: takes SMTP envelope data from Postfix over the milter and the
// policy sockets (untrusted content, bounded by each front end's parser).
// Privileges: started as root, it binds its sockets, prepares --dbdir and
// opens the database as --user, then drops to --user/--group for good
// before it reads any input. Started as another user, it stays that user.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/daemon_options.h"
#include "config/privacy_key.h"
#include "daemon/background.h"
#include "daemon/control_signals.h"
#include "daemon/expiry_thread.h"
#include "daemon/front_end_threads.h"
#include "daemon/hup_reload.h"
#include "daemon/metrics.h"
#include "daemon/metrics_server.h"
#include "daemon/rules_reload.h"
#include "daemon/service_manager.h"
#include "greylist/greylister.h"
#include "greylist/registered_domains.h"
#include "greylist/static_whitelist.h"
#include "milter/milter_server.h"
#include "policy/policy_server.h"
#include "spf/spf_service.h"
#include "store/bdb_store.h"
#include "store/redis_store.h"
#include "util/log.h"
#include "util/privileges.h"

namespace greylist {
namespace {

constexpr int kExitConfig = 2;
constexpr int kExitStartup = 1;
// A front end stopped without being asked to (FrontEndThreads).
constexpr int kExitFrontEndStopped = 3;
// How long the start waits for a tool that holds the database directory.
constexpr std::chrono::seconds kOwnerWait{100};

Status ensure_directory(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::IoError(path + " exists and is not a directory");
    return Status::Ok();
  }
  if (errno != ENOENT) return Status::IoError("cannot examine " + path + ": " + std::strerror(errno));
  if (mkdir(path.c_str(), 0700) != 0) {
    return Status::IoError("cannot create " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Every policy connection and every libmilter session holds a descriptor,
// and systemd starts services with a soft limit of 1024. Raises the soft
// limit (as root, the hard one too) to what --policy-max-connections needs,
// so a busy policy server never fails to accept for want of descriptors.
void raise_descriptor_limit(const DaemonOptions& options) {
  // Listeners, database and log files; policy and milter connections.
  constexpr rlim_t kReserve = 512;
  const rlim_t wanted = static_cast<rlim_t>(options.policy.max_connections) +
                        static_cast<rlim_t>(options.milter.limits.max_connections) + kReserve;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  rlimit raised = limit;
  if (raised.rlim_max < wanted && running_as_root()) raised.rlim_max = wanted;
  raised.rlim_cur = std::min(wanted, raised.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised = limit;
    raised.rlim_cur = std::min(wanted, limit.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) raised = limit;
  }
  if (raised.rlim_cur < wanted) {
    log_warning("the open-file limit is " + std::to_string(raised.rlim_cur) + ", below the " +
                std::to_string(wanted) + " that --policy-max-connections " +
                std::to_string(options.policy.max_connections) + " and --milter-max-connections " +
                std::to_string(options.milter.limits.max_connections) +
                " need: raise it (systemd: LimitNOFILE=) or lower them");
  }
}

// What the daemon opens at start-up, in the order it must be closed.
struct Resources {
  std::unique_ptr<Store> store;
  std::unique_ptr<RegisteredDomains> domains;
  std::shared_ptr<const StaticWhitelist> whitelist;
  std::shared_ptr<const RuleSet> rules;  // nullptr: none
  std::string privacy_key;
};

// The --privacy key (in the current directory unless --privacy-key-file).
Status open_privacy_key(const DaemonOptions& options, Resources& out) {
  if (options.greylist.privacy) {
    auto key = load_or_create_privacy_key(
        options.privacy_key_file.empty() ? "privacy.key" : options.privacy_key_file);
    if (!key.ok()) return key.status();
    out.privacy_key = key.value();
  }
  return Status::Ok();
}

// --store redis: a server that refuses the login or the database is fatal;
// one that cannot be reached yet is not (requests are answered by --on-error
// until it can, as during any later outage).
Status open_redis(const DaemonOptions& options, Resources& out) {
  auto store = RedisStore::open(options.redis);
  if (!store.ok()) return Status::InvalidArgument("redis store: " + store.status().message());
  const Status checked = store.value()->check();
  if (checked.code() == Status::Code::kUnavailable) {
    log_warning(checked.message() + "; serving anyway, answering by --on-error until it is back");
  } else if (!checked.ok()) {
    return checked;
  }
  out.store = std::move(store).value();
  return Status::Ok();
}

// Opens the database in the current directory (the daemon lives in
// --dbdir, so the service user needs no access to the path leading there)
// and the privacy key. Done as the service user, who owns what it creates.
Status open_database(const DaemonOptions& options, Resources& out) {
  if (options.store == DaemonOptions::StoreKind::kRedis) {
    if (const Status s = open_redis(options, out); !s.ok()) return s;
    return open_privacy_key(options, out);
  }
  BdbOptions bdb_options;
  bdb_options.directory = ".";
  bdb_options.sync = options.sync_full ? BdbOptions::Sync::kFull : BdbOptions::Sync::kCrashSafe;
  bdb_options.cache_bytes = options.cache_bytes;
  // greylistctl on a stopped daemon's database (a long dump or import) owns
  // the directory meanwhile: wait for it, within systemd's start timeout
  // (TimeoutStartSec=120s); after that the unit's restart waits again.
  bdb_options.owner_wait = kOwnerWait;
  bdb_options.on_owner_wait = [&dir = options.dbdir] {
    log_warning("database directory " + dir + " is in use by another process, a tool such as "
                "greylistctl (lock file " + dir + "/greylist-milter.lock): waiting up to " +
                std::to_string(kOwnerWait.count()) + " s for it to finish");
    notify_status("waiting for greylistctl to leave the database directory");
  };
  auto store = BdbStore::open(bdb_options);
  if (!store.ok() && store.status().code() == Status::Code::kCorruption) {
    const std::string& dir = options.dbdir;
    if (!options.reset_on_corruption) {
      return Status::Corruption(
          "the database in " + dir + " is damaged beyond recovery: " + store.status().message() +
          ". Nothing was changed. To start with an empty database (every triplet is greylisted "
          "afresh) and keep the damaged files, start once with --on-corruption=reset: they are "
          "moved to " + dir + "/corrupt-<date>-<time>/. Or move triplets.db, clients.db and "
          "log.* out of " + dir + " yourself. Entries can be salvaged from a damaged table "
          "with db5.3_dump -r (greylist-milter(8), DAMAGED DATABASE)");
    }
    auto moved = BdbStore::move_aside(".");
    if (!moved.ok()) {
      return Status::IoError("the database in " + dir + " is damaged beyond recovery (" +
                             store.status().message() + ") and could not be moved aside: " +
                             moved.status().message());
    }
    std::string files;
    for (const auto& file : moved.value().files) files += (files.empty() ? "" : " ") + file;
    log_warning("the database in " + dir + " was damaged beyond recovery (" +
                store.status().message() + "); --on-corruption=reset moved its files (" + files +
                ") to " + dir + "/" + moved.value().subdirectory +
                "; starting with an empty database");
    store = BdbStore::open(bdb_options);
  }
  if (!store.ok()) {
    return Status::IoError("cannot open the database in " + options.dbdir + ": " +
                           store.status().message());
  }
  out.store = std::move(store).value();
  return open_privacy_key(options, out);
}

// The Public Suffix List and the whitelists, read with the start-up
// privileges (a reload on SIGHUP reads them as the service user).
Status open_lists(const DaemonOptions& options, Resources& out) {
  if (options.greylist.pool_by_domain) {
    auto psl = open_public_suffix_list();
    if (psl.ok()) {
      out.domains = std::move(psl).value();
    } else {
      log_warning(psl.status().message() + "; --pool-by-domain is off");
    }
  }
  auto whitelist = StaticWhitelist::load(options.whitelist_clients, options.whitelist_recipients);
  if (!whitelist.ok()) return Status::InvalidArgument("whitelist: " + whitelist.status().message());
  for (const auto& warning : whitelist.value().warnings) log_warning(warning);
  out.whitelist = whitelist.value().whitelist;
  return Status::Ok();
}

// The core, built on the opened resources, its metrics, and the resolver
// of the rules' DNS lists (started only when the rules name one).
struct Core {
  Core(const DaemonOptions& options, const Resources& resources)
      : greylister(with_privacy_key(options.greylist, resources.privacy_key), *resources.store,
                   clock, resources.domains.get()),
        metrics("."),  // the daemon lives in --dbdir from here on
        resolver(options.rules.dns) {
    greylister.set_whitelist(resources.whitelist);
    greylister.set_rules(resources.rules);
    greylister.set_observer(&metrics);
    metrics.set_spf_stats_source([this] { return spf.checker_stats(); });
  }

  // What both front ends use for the DNS lists.
  DnsLists dns_lists(const DaemonOptions& options) {
    return DnsLists{&resolver, &metrics, options.rules.dns.timeout};
  }

  static GreylistConfig with_privacy_key(GreylistConfig config, const std::string& key) {
    config.privacy_key = key;
    return config;
  }

  SystemClock clock;
  Greylister greylister;
  Metrics metrics;
  LazyResolver resolver;
  SpfService spf;  // started only with --pool-by-spf
};

// Waits for control signals (and ControlSignals::wake()) until one stops
// the daemon; with the systemd watchdog on, wakes up to prove the daemon
// is alive (a store call still returns) between them.
void serve_until_stopped(ControlSignals& signals, Store& store, HupReload& hup) {
  const auto watchdog = watchdog_interval();
  for (;;) {
    const auto signal_number = signals.wait(watchdog);
    if (!signal_number) {
      // The probe only has to return: a store that fails (a full disk, a
      // Redis server down) is answered by --on-error, and comes back by
      // itself, which a restart would not improve (the restart's recovery
      // on a still-full disk fails). A store call that hangs starves the
      // watchdog, and systemd restarts the daemon.
      [[maybe_unused]] const auto probe = store.get(Table::kClients, "watchdog-probe");
      notify_watchdog();
      continue;
    }
    if (*signal_number == SIGHUP) {
      hup.reload();
      continue;
    }
    if (*signal_number == ControlSignals::kWoken) return;  // a front end stopped
    log_info(std::string("received ") + strsignal(*signal_number) + ", shutting down");
    return;
  }
}

// What start-up sets up for the process before it opens anything else.
struct Process {
  std::optional<ServiceUser> user;  // set when started as root: drop to it
  std::optional<ControlSignals> signals;
  std::optional<PidFile> pidfile;
};

// Finds the service user (as root), settles the descriptor limit,
// detaches with --daemonize, blocks the control signals and writes the pid
// file.
Status prepare_process(DaemonOptions& options, Process& process) {
  if (running_as_root()) {
    auto found = find_service_user(options.user, options.group);
    if (!found.ok()) return found.status();
    process.user = found.value();
  }
  raise_descriptor_limit(options);
  if (options.daemonize) {
    if (const Status detached = detach(options.log.target == LogSettings::Target::kStderr);
        !detached.ok()) {
      return Status::IoError("cannot run in the background: " + detached.message());
    }
  }
  // Before any thread exists, so every thread inherits the blocked mask.
  auto signals = ControlSignals::block();
  if (!signals.ok()) return signals.status();
  process.signals.emplace(std::move(signals).value());
  if (!options.pidfile.empty()) {
    auto created = PidFile::create(options.pidfile);
    if (!created.ok()) return created.status();
    process.pidfile.emplace(std::move(created).value());
  }
  return Status::Ok();
}

// The lists, --dbdir (prepared for the service user) and, from inside it,
// the database and the privacy key.
Status open_resources(const DaemonOptions& options, const std::optional<ServiceUser>& user,
                      Resources& resources) {
  if (const Status lists = open_lists(options, resources); !lists.ok()) return lists;
  const Status directory = user ? prepare_directory_for(*user, options.dbdir)
                                : ensure_directory(options.dbdir);
  if (!directory.ok()) return Status::IoError("database directory: " + directory.message());
  // Entered and opened as --user: root needs no capability to reach the
  // user's 0700 directory (the unit grants no CAP_DAC_OVERRIDE).
  const auto enter_and_open = [&]() -> Status {
    if (chdir(options.dbdir.c_str()) != 0) {
      return Status::IoError("cannot enter the database directory " + options.dbdir + ": " +
                             std::strerror(errno));
    }
    return open_database(options, resources);
  };
  return user ? as_effective_user(*user, enter_and_open) : enter_and_open();
}

// The front ends that are on, bound to their sockets (not serving yet).
struct FrontEnds {
  std::unique_ptr<PolicyServer> policy;
  std::unique_ptr<MilterServer> milter;
};

// The policy server shares the store's commits (when it has them) among the
// requests each of its loops answers in one turn; libmilter's thread per
// connection cannot hold a reply, so the milter's writes are durable on return.
Status open_front_ends(const DaemonOptions& options, Core& core, Store& store, FrontEnds& out) {
  if (!options.policy.sockets.empty()) {
    PolicySettings settings = options.policy;
    settings.common.dns = core.dns_lists(options);
    settings.common.spf = core.spf.pooling();
    auto server = PolicyServer::open(std::move(settings), core.greylister, core.clock,
                                     store.deferred_commits());
    if (!server.ok()) return Status::IoError("policy front end: " + server.status().message());
    out.policy = std::move(server).value();
  }
  if (options.milter.socket.kind != SocketSpec::Kind::kNone) {
    MilterSettings settings = options.milter;
    settings.common.dns = core.dns_lists(options);
    settings.common.spf = core.spf.pooling();
    auto server = MilterServer::open(std::move(settings), core.greylister, core.clock);
    if (!server.ok()) return Status::IoError("milter front end: " + server.status().message());
    out.milter = std::move(server).value();
  }
  return Status::Ok();
}

// Gives the unix sockets to the service group, then drops root for good.
Status drop_to_service_user(const DaemonOptions& options, const ServiceUser& user) {
  std::vector<std::string> unix_sockets;
  for (const auto& spec : options.policy.sockets) {
    if (spec.kind == SocketSpec::Kind::kUnix) unix_sockets.push_back(spec.path);
  }
  if (options.milter.socket.kind == SocketSpec::Kind::kUnix) {
    unix_sockets.push_back(options.milter.socket.path);
  }
  for (const auto& path : unix_sockets) {
    if (const Status given = give_socket_to_group(user, path); !given.ok()) return given;
  }
  if (const Status dropped = drop_privileges(user); !dropped.ok()) {
    return Status::IoError("cannot drop privileges to " + user.name + ": " + dropped.message());
  }
  return Status::Ok();
}

void log_starting(const DaemonOptions& options, const FrontEnds& front_ends, Store& store) {
  std::string listening;
  for (const auto& spec : options.policy.sockets) listening += " policy=" + spec.to_string();
  if (front_ends.milter) listening += " milter=" + options.milter.socket.to_string();
  log_info(std::string("greylist-milter ") + GREYLIST_VERSION + " starting:" + listening +
           " dbdir=" + options.dbdir +
           (options.store == DaemonOptions::StoreKind::kRedis
                ? " store=redis (" + static_cast<RedisStore&>(store).description() + ")"
                : std::string(" store=bdb")) +
           " delay=" + std::to_string(options.greylist.delay) + "s uid=" +
           std::to_string(getuid()));
}

// Stops the front ends, answers the lookups still pending, then closes the
// front ends: their unix socket files are removed (a failure logged, with
// its reason) before the daemon says "stopped". The name of a front end that
// stopped without being asked to, if one did.
std::optional<std::string> shut_down(FrontEndThreads& threads, FrontEnds& front_ends, Core& core) {
  threads.request_stop();
  notify_stopping();
  if (front_ends.policy) front_ends.policy->stop();
  if (front_ends.milter) front_ends.milter->stop();
  threads.join_all();
  // Lookups still pending are answered now, while the front ends (whose
  // executors the answers are posted to) still exist.
  core.resolver.stop();
  core.spf.stop();
  front_ends.policy.reset();
  front_ends.milter.reset();
  const auto unasked = threads.stopped_unasked();
  if (unasked) report_failed("the " + *unasked + " front end stopped without being asked to");
  return unasked;
}

// Serves until a control signal stops the daemon, then stops the front
// ends and the expiry thread; the exit status.
int serve(const DaemonOptions& options, ConfigReload config, ControlSignals& signals,
          FrontEnds& front_ends, Core& core, Store& store) {
  // The expiry thread inherits the block; the front ends' threads are
  // started after listen(), each blocked from its start: from here on
  // every control signal reaches the main loop, none libmilter's thread.
  ExpiryThread expiry(core.greylister.config(), store, core.clock, ExpiryPace(),
                      [&greylister = core.greylister] { return greylister.rules(); });
  HupReload hup(std::move(config), options,
                {core.greylister, expiry, core.metrics, core.resolver, front_ends.policy.get(),
                 front_ends.milter.get()});
  signals.listen();
  // A front end that stops on its own (a listener error, libmilter's loop
  // returning) stops the whole daemon with a failure status, for the
  // service manager to restart it, rather than leaving half of it.
  FrontEndThreads threads;
  if (front_ends.policy) threads.start("policy", [&] { front_ends.policy->run(); });
  if (front_ends.milter) threads.start("milter", [&] { front_ends.milter->run(); });
  log_info("ready");
  notify_ready("serving");
  report_started();
  serve_until_stopped(signals, store, hup);

  const auto unasked = shut_down(threads, front_ends, core);
  expiry.stop();
  log_info("greylist-milter stopped");
  return unasked ? kExitFrontEndStopped : 0;
}

int fail(const std::string& message, int status = kExitStartup) {
  log(Severity::kCritical, message);
  report_failed(message);
  return status;
}

int run(DaemonOptions options, ConfigReload config) {
  configure_logging(options.log);
  // Relative paths are resolved at start: the daemon changes directory.
  make_paths_absolute(options, std::filesystem::current_path().string());
  // Before detaching: an invalid rules file is a configuration error, told
  // on the terminal with its FILE:LINE.
  auto rules = load_rules(options.rules);
  if (!rules.ok()) return fail(rules.status().message(), kExitConfig);
  Process process;
  if (const Status prepared = prepare_process(options, process); !prepared.ok()) {
    return fail(prepared.message());
  }
  Resources resources;
  resources.rules = std::move(rules).value();
  if (const Status opened = open_resources(options, process.user, resources); !opened.ok()) {
    return fail(opened.message());
  }

  Core core(options, resources);
  if (const Status started = start_dns_lists(resources.rules.get(), core.resolver); !started.ok()) {
    return fail(started.message());
  }
  if (const Status started =
          core.spf.start(options.greylist.pool_by_spf, options.rules.dns, &core.metrics);
      !started.ok()) {
    return fail("--pool-by-spf: " + started.message());
  }
  FrontEnds front_ends;
  if (const Status opened = open_front_ends(options, core, *resources.store, front_ends);
      !opened.ok()) {
    return fail(opened.message());
  }
  if (process.user) {
    if (const Status dropped = drop_to_service_user(options, *process.user); !dropped.ok()) {
      return fail(dropped.message());
    }
  }
  // After the drop: the endpoint serves input of its own (HTTP).
  std::unique_ptr<MetricsServer> metrics_server;
  if (options.metrics.kind != SocketSpec::Kind::kNone) {
    auto started = MetricsServer::start(options.metrics, core.metrics);
    if (!started.ok()) return fail(started.status().message());
    metrics_server = std::move(started).value();
  }
  log_starting(options, front_ends, *resources.store);
  return serve(options, std::move(config), *process.signals, front_ends, core, *resources.store);
}

}  // namespace
}  // namespace greylist

int main(int argc, char* argv[]) {
  auto parsed = greylist::parse_daemon_options(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "greylist-milter: " << parsed.status().message() << "\n";
    return greylist::kExitConfig;
  }
  if (parsed.value().outcome != greylist::ParsedOptions::Outcome::kRun) return 0;
  try {
    // SIGHUP reads the configuration again as here, from here (the daemon
    // changes directory).
    greylist::ConfigReload config(std::vector<std::string>(argv + 1, argv + argc),
                                  std::filesystem::current_path().string());
    return greylist::run(std::move(parsed).value().options, std::move(config));
  } catch (const std::exception& e) {
    greylist::log(greylist::Severity::kCritical, std::string("unexpected error: ") + e.what());
    greylist::report_failed(e.what());
    return greylist::kExitStartup;
  }
}
