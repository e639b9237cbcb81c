// greylistctl export: every entry of the store as a dump (store_dump.h),
// for `greylistctl import` into another store or as a backup.
//
// Consistency: each table is read in batches of short transactions, so the
// daemon may run meanwhile; an entry changed during the export is in the
// dump in one of its versions, and entries created or deleted meanwhile
// may or may not be. Importing merges, so a second export and import after
// the switch to another store catches what changed in between.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "greylist/record_codec.h"
#include "tools/ctl_command.h"
#include "tools/ctl_output.h"
#include "tools/store_dump.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

struct ExportCounts {
  std::uint64_t triplets = 0;
  std::uint64_t clients = 0;
  std::uint64_t expired = 0;      // already expired under the store's settings: left out
  std::uint64_t undecodable = 0;  // damaged entries (the daemon ignores them): left out
};

// Creates (mode 0600: the dump holds addresses) or truncates `path`.
bool open_output(const std::string& path, std::ofstream& file, std::string& error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  ::close(fd);
  file.open(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    error = path + ": cannot open for writing";
    return false;
  }
  return true;
}

// For people reading the dump: the keys hold client networks without their
// prefix length (a greytrap key holds "192.0.2.0"); the header says which.
std::string network_prefixes(const GreylistConfig& config) {
  if (config.lookup_by_host) return "lookup-by-host=yes";
  return "ipv4cidr=" + std::to_string(config.ipv4_cidr) +
         " ipv6cidr=" + std::to_string(config.ipv6_cidr);
}

// Writes every entry of the store that has not expired at `now`, one dump
// line each, and counts what it writes and leaves out. Stops at a scan
// error (returned) or when `out` fails (the caller checks it).
Status write_entries(CtlContext& ctx, Store& store, const GreylistConfig& config, EpochSeconds now,
                     std::ostream& out, ExportCounts& counts) {
  Status scanned = Status::Ok();
  for (const Table table : {Table::kTriplets, Table::kClients}) {
    scanned = for_each_entry(ctx, store, table, [&](const StoreEntry& entry) {
      const auto expires = entry_expires_at(table, entry.key, entry.value, config);
      const auto line = expires ? dump_entry_line(table, entry.key, entry.value, *expires)
                                : std::nullopt;
      if (!line) {
        ++counts.undecodable;
      } else if (*expires <= now) {
        ++counts.expired;
      } else {
        out << *line << "\n";
        ++(table == Table::kTriplets ? counts.triplets : counts.clients);
      }
      return static_cast<bool>(out);
    });
    if (!scanned.ok() || !out) break;
  }
  return scanned;
}

}  // namespace

int run_export(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("export options");
  options.add_options()
      ("output,o", po::value<std::string>(),
       "FILE: write the dump there (created mode 0600, or replaced) instead of standard output");
  options.add(store_override_options());
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "export", options, {}, args, vm)) return *done;
  take_store_overrides(vm, ctx.common);
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "export", settings.status().message());
  const GreylistConfig& config = settings.value().greylist;

  // Opened before the store: started as root, open_store gives root up.
  const std::string output_path = vm.count("output") != 0 ? vm["output"].as<std::string>() : "";
  std::ofstream file;
  if (!output_path.empty()) {
    std::string error;
    if (!open_output(output_path, file, error)) {
      ctx.err << "greylistctl: export: " << error << "\n";
      return kExitFailure;
    }
  }
  std::ostream& out = output_path.empty() ? ctx.out : file;
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: export: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Store& store = *opened.value().store;

  const EpochSeconds now = SystemClock().now();
  out << dump_header(std::string("store=") + store.name() + " exported=" + iso8601(now) + " " +
                     network_prefixes(config))
      << "\n";
  ExportCounts counts;
  const Status scanned = write_entries(ctx, store, config, now, out, counts);
  const std::uint64_t entries = counts.triplets + counts.clients;
  if (scanned.ok() && out) {
    out << dump_end(entries) << "\n";
    out.flush();
  }
  const std::string where = output_path.empty() ? "standard output" : output_path;
  if (!scanned.ok() || !out) {
    ctx.err << "greylistctl: export: "
            << (scanned.ok() ? "cannot write " + where : scanned.message())
            << (output_path.empty() ? ""
                                    : " (" + output_path + " is incomplete: import refuses it)")
            << "\n";
    return kExitFailure;
  }
  // The summary goes where the dump does not.
  std::ostream& report = output_path.empty() ? ctx.err : ctx.out;
  report << "exported " << entries << " entries (" << counts.triplets << " triplets, "
         << counts.clients << " clients) from the " << store.name() << " store to " << where
         << "; left out " << counts.expired << " expired, " << counts.undecodable
         << " undecodable\n";
  report.flush();
  return kExitOk;
}

}  // namespace greylist
