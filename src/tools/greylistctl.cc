// greylistctl: the admin tool for greylist-milter's database and a health
// check for the running daemon. See greylistctl(8).
//
// Exposure: reads the daemon's config file and database, and postgrey's
// database for an import; connects to the daemon's sockets for `check`.
// Privileges: started as root, commands that open the database become the
// owner of --dbdir for good first (what Berkeley DB creates must stay the
// daemon's); root-only files (whitelists, postgrey's database) are read
// before that.
#include <signal.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "tools/ctl_command.h"

namespace greylist {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_stop_signal(int) { g_interrupted.store(true); }

// SIGINT, SIGTERM and SIGHUP only set a flag that commands check between
// two store calls: the process never dies inside a transaction it shares
// with the daemon. SIGPIPE is ignored: a closed output shows as a write
// error (`greylistctl dump | head`).
void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal_number, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void print_help(std::ostream& out) {
  out << "usage: greylistctl [--dbdir DIR] [--config FILE] COMMAND [ARGUMENTS]\n"
         "The admin tool of greylist-milter: inspect and edit its database (also while the "
         "daemon runs), and check that the daemon answers.\n\n"
         "  --dbdir DIR    database directory (default: the daemon's, from its config file)\n"
         "  --config FILE  the daemon's config file (default: "
         "/etc/greylist-milter/greylist-milter.conf if it exists)\n"
         "  --defaults FILE  the unit's GREYLIST_MILTER_OPTS, winning over the config file "
         "(default: /etc/default/greylist-milter)\n\n"
         "Commands:\n";
  for (const Command& command : commands()) {
    out << "  " << command.name << " " << command.arguments << "\n      " << command.summary
        << "\n";
  }
  out << "\n'greylistctl COMMAND --help' describes a command's options. Exit status: 0 ok, 1 "
         "failure (or unhealthy, or nothing matched), 2 bad arguments. See greylistctl(8).\n";
}

// The value of a global option given as "--name VALUE" or "--name=VALUE";
// advances i past it. nullopt if argv[i] is not that option.
std::optional<std::string> option_value(const std::vector<std::string>& args, std::size_t& i,
                                        const std::string& name, bool& missing) {
  const std::string& arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) {
      missing = true;
      return std::nullopt;
    }
    i += 2;
    return args[i - 1];
  }
  if (arg.rfind(name + "=", 0) == 0) {
    ++i;
    return arg.substr(name.size() + 1);
  }
  return std::nullopt;
}

int run(const std::vector<std::string>& args) {
  CtlContext ctx{{}, std::cout, std::cerr, g_interrupted};
  const char* kGlobalUsage = "usage: greylistctl [--dbdir DIR] [--config FILE] COMMAND [ARGUMENTS]";
  std::size_t i = 0;
  while (i < args.size() && args[i].rfind("-", 0) == 0) {
    if (args[i] == "--help" || args[i] == "-h") {
      print_help(std::cout);
      return kExitOk;
    }
    if (args[i] == "--version") {
      std::cout << "greylistctl " << GREYLIST_VERSION << "\n";
      return kExitOk;
    }
    bool missing = false;
    if (auto dbdir = option_value(args, i, "--dbdir", missing)) {
      ctx.common.dbdir = *dbdir;
    } else if (auto config = option_value(args, i, "--config", missing)) {
      ctx.common.config = *config;
    } else if (auto defaults = option_value(args, i, "--defaults", missing)) {
      ctx.common.defaults = *defaults;
    } else {
      std::cerr << "greylistctl: " << (missing ? "missing value for " : "unknown option ")
                << args[i] << "\n"
                << kGlobalUsage << "\n";
      return kExitUsage;
    }
  }
  if (i >= args.size()) {
    std::cerr << "greylistctl: no command given\n" << kGlobalUsage << "\n";
    return kExitUsage;
  }
  for (const Command& command : commands()) {
    if (args[i] == command.name) {
      return command.run(ctx, std::vector<std::string>(args.begin() + static_cast<long>(i) + 1,
                                                        args.end()));
    }
  }
  std::cerr << "greylistctl: unknown command '" << args[i] << "'\n" << kGlobalUsage << "\n";
  return kExitUsage;
}

}  // namespace
}  // namespace greylist

int main(int argc, char* argv[]) {
  greylist::install_signal_handlers();
  try {
    return greylist::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "greylistctl: unexpected error: " << e.what() << "\n";
    return greylist::kExitFailure;
  }
}
