// greylist-milter: one process, two front ends (milter, policy), one core.
//
// Exposure: takes SMTP envelope data from Postfix over the milter and the
// policy sockets (untrusted content, bounded by each front end's parser).
// Needs: write access to --dbdir, the right to bind its sockets.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "daemon/daemon_options.h"
#include "daemon/expiry_thread.h"
#include "daemon/privacy_key.h"
#include "greylist/greylister.h"
#include "greylist/registered_domains.h"
#include "greylist/static_whitelist.h"
#include "milter/milter_server.h"
#include "policy/policy_server.h"
#include "store/bdb_store.h"
#include "util/log.h"

namespace greylist {
namespace {

constexpr int kExitConfig = 2;
constexpr int kExitStartup = 1;

// Blocks the signals the main thread waits for, in this thread and so in
// every thread started after it: only sigwait() in main() sees them.
sigset_t block_control_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a peer that went away is an error return, not a death
  return set;
}

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

// SIGHUP: a complete new whitelist replaces the old one in one atomic swap,
// so requests in flight see either list, never a half-read one; on any
// error the old lists stay in force.
void reload_whitelists(const DaemonOptions& options, Greylister& greylister) {
  log_info("HUP received: reloading whitelists...");
  auto whitelist = StaticWhitelist::load(options.whitelist_clients, options.whitelist_recipients);
  if (!whitelist.ok()) {
    log_warning("whitelist reload failed, keeping the old lists: " + whitelist.status().message());
    return;
  }
  for (const auto& warning : whitelist.value().warnings) log_warning(warning);
  const auto& loaded = *whitelist.value().whitelist;
  log_info("whitelists reloaded: " + std::to_string(loaded.client_rule_count()) + " client rules, " +
           std::to_string(loaded.recipient_rule_count()) + " recipient rules");
  greylister.set_whitelist(whitelist.value().whitelist);
}

int run(const DaemonOptions& options) {
  configure_logging(options.log);
  const sigset_t control_signals = block_control_signals();

  if (const Status made = ensure_directory(options.dbdir); !made.ok()) {
    log(Severity::kCritical, "database directory: " + made.message());
    return kExitStartup;
  }
  BdbOptions bdb_options;
  bdb_options.directory = options.dbdir;
  bdb_options.sync = options.sync_full ? BdbOptions::Sync::kFull : BdbOptions::Sync::kCrashSafe;
  auto store = BdbStore::open(bdb_options);
  if (!store.ok()) {
    // The store's message names the directory and the reason.
    log(Severity::kCritical, "cannot open the database: " + store.status().message());
    return kExitStartup;
  }

  GreylistConfig config = options.greylist;
  if (config.privacy) {
    auto key = load_or_create_privacy_key(options.privacy_key_file);
    if (!key.ok()) {
      log(Severity::kCritical, key.status().message());
      return kExitStartup;
    }
    config.privacy_key = key.value();
  }

  std::unique_ptr<RegisteredDomains> domains;
  if (config.pool_by_domain) {
    auto psl = open_public_suffix_list();
    if (psl.ok()) {
      domains = std::move(psl).value();
    } else {
      log_warning(psl.status().message() + "; --pool-by-domain is off");
    }
  }

  SystemClock clock;
  Greylister greylister(config, *store.value(), clock, domains.get());
  {
    auto whitelist = StaticWhitelist::load(options.whitelist_clients, options.whitelist_recipients);
    if (!whitelist.ok()) {
      log(Severity::kCritical, "whitelist: " + whitelist.status().message());
      return kExitStartup;
    }
    for (const auto& warning : whitelist.value().warnings) log_warning(warning);
    greylister.set_whitelist(whitelist.value().whitelist);
  }

  std::unique_ptr<PolicyServer> policy;
  if (!options.policy.sockets.empty()) {
    auto opened = PolicyServer::open(options.policy, greylister, clock);
    if (!opened.ok()) {
      log(Severity::kCritical, "policy front end: " + opened.status().message());
      return kExitStartup;
    }
    policy = std::move(opened).value();
  }
  std::unique_ptr<MilterServer> milter;
  if (options.milter.socket.kind != SocketSpec::Kind::kNone) {
    auto opened = MilterServer::open(options.milter, greylister, clock);
    if (!opened.ok()) {
      log(Severity::kCritical, "milter front end: " + opened.status().message());
      return kExitStartup;
    }
    milter = std::move(opened).value();
  }

  std::string listening;
  for (const auto& spec : options.policy.sockets) listening += " policy=" + spec.to_string();
  if (milter) listening += " milter=" + options.milter.socket.to_string();
  log_info(std::string("greylist-milter ") + GREYLIST_VERSION + " starting:" + listening +
           " dbdir=" + options.dbdir + " delay=" + std::to_string(config.delay) + "s");

  // A front end that stops on its own (libmilter may take a SIGTERM itself)
  // brings the whole daemon down cleanly rather than leaving half of it.
  const auto wake_main = [] { kill(getpid(), SIGTERM); };
  std::thread policy_thread;
  if (policy) {
    policy_thread = std::thread([&] {
      policy->run();
      wake_main();
    });
  }
  std::thread milter_thread;
  if (milter) {
    milter_thread = std::thread([&] {
      milter->run();
      wake_main();
    });
  }
  ExpiryThread expiry(config, *store.value(), clock);

  for (;;) {
    int signal_number = 0;
    if (sigwait(&control_signals, &signal_number) != 0) continue;
    if (signal_number == SIGHUP) {
      reload_whitelists(options, greylister);
      continue;
    }
    log_info(std::string("received ") + strsignal(signal_number) + ", shutting down");
    break;
  }

  if (policy) policy->stop();
  if (milter) milter->stop();
  if (policy_thread.joinable()) policy_thread.join();
  if (milter_thread.joinable()) milter_thread.join();
  expiry.stop();
  log_info("greylist-milter stopped");
  return 0;
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
    return greylist::run(parsed.value().options);
  } catch (const std::exception& e) {
    greylist::log(greylist::Severity::kCritical, std::string("unexpected error: ") + e.what());
    return greylist::kExitStartup;
  }
}
