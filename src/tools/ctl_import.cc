// greylistctl import-postgrey: postgrey's database into ours.
#include <iostream>

#include "greylist/greylister.h"
#include "tools/ctl_command.h"
#include "tools/ctl_import_postgrey.h"
#include "tools/postgrey_import.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

std::string skipped(const std::map<std::string, std::uint64_t>& reasons) {
  std::uint64_t total = 0;
  std::string detail;
  for (const auto& [reason, count] : reasons) {
    total += count;
    detail += (detail.empty() ? "" : ", ") + std::to_string(count) + " " + reason;
  }
  return "skipped " + std::to_string(total) + (detail.empty() ? "" : " (" + detail + ")");
}

}  // namespace

int import_postgrey_database(CtlContext& ctx, const char* command, const DaemonOptions& settings,
                             const std::string& dir, const PostgreyDatabase& database,
                             std::int64_t delay, bool dry_run) {
  GreylistConfig config = settings.greylist;
  auto privacy_key = read_privacy_key(settings);
  if (!privacy_key.ok()) {
    ctx.err << "greylistctl: " << command << ": " << privacy_key.status().message() << "\n";
    return kExitFailure;
  }
  config.privacy_key = privacy_key.value();
  auto opened = open_store(settings, !dry_run);
  if (!opened.ok()) {
    ctx.err << "greylistctl: " << command << ": " << opened.status().message() << "\n";
    return kExitFailure;
  }

  SystemClock clock;
  // Its keys only (postgrey recorded no client names: network keys).
  const Greylister keys(config, *opened.value().store, clock);
  const PostgreyImport import(keys, *opened.value().store, delay, clock.now());
  auto report = import.run(database, dry_run, ctx.interrupted);
  if (!report.ok()) {
    ctx.err << "greylistctl: " << command << ": " << report.status().message() << "\n";
    return kExitFailure;
  }
  const ImportReport& r = report.value();
  const char* verb = dry_run ? "would import " : "imported ";
  ctx.out << "postgrey database " << dir << ": " << r.triplets_read << " triplets, "
          << r.clients_read << " clients"
          << (database.has_clients_file ? "" : " (no postgrey_clients.db)") << "\n"
          << "triplets: " << verb << r.triplets_imported << " (passed " << r.triplets_passed
          << ", waiting " << r.triplets_imported - r.triplets_passed << "), merged "
          << r.triplets_merged << " into existing entries, left out " << r.triplets_expired
          << " expired, " << skipped(r.triplets_skipped) << "\n"
          << "clients: " << verb << r.client_networks << " networks, merged " << r.clients_merged
          << " into existing entries, left out " << r.clients_expired << " expired, "
          << skipped(r.clients_skipped) << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

int run_import_postgrey(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("import-postgrey options");
  options.add_options()
      ("postgrey-dbdir", po::value<std::string>()->required(),
       "DIR: postgrey's --dbdir (e.g. /var/lib/postgrey), with postgrey stopped")
      ("delay", po::value<std::int64_t>(),
       "postgrey's --delay: a triplet passed if last - first >= it (default: ours)")
      ("dry-run", po::bool_switch(), "read, convert and count; write nothing");
  po::positional_options_description positional;
  positional.add("postgrey-dbdir", 1);
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "import-postgrey", options, positional, args, vm)) {
    return *done;
  }
  const std::string dir = vm["postgrey-dbdir"].as<std::string>();
  const bool dry_run = vm["dry-run"].as<bool>();
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "import-postgrey", settings.status().message());
  std::int64_t delay = settings.value().greylist.delay;
  if (vm.count("delay") != 0) {
    delay = vm["delay"].as<std::int64_t>();
    if (delay < 0) return usage_error(ctx, "import-postgrey", "--delay must not be negative");
  }

  // postgrey's files belong to its user: read them before opening our store
  // (which may give up root for the owner of --dbdir).
  auto database = read_postgrey_database(dir);
  if (!database.ok()) {
    ctx.err << "greylistctl: import-postgrey: " << database.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& warning : database.value().warnings) {
    ctx.err << "greylistctl: import-postgrey: warning: " << warning << "\n";
  }
  return import_postgrey_database(ctx, "import-postgrey", settings.value(), dir,
                                  database.value(), delay, dry_run);
}

}  // namespace greylist
