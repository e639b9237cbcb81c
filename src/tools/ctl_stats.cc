// greylistctl stats: what the database holds, and its size on disk.
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "greylist/record_codec.h"
#include "tools/ctl_command.h"
#include "tools/stored_key.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

struct Counts {
  std::uint64_t triplets = 0;
  std::uint64_t passed = 0;
  std::uint64_t waiting = 0;
  std::uint64_t expired = 0;  // past their lifetime, not yet swept
  std::uint64_t clients = 0;
  std::uint64_t whitelisted_clients = 0;
  std::uint64_t domains = 0;
  std::uint64_t whitelisted_domains = 0;
  std::uint64_t traps = 0;  // greytrapped networks still held (the others count as expired)
  std::uint64_t undecodable = 0;
};

struct DiskUsage {
  std::uint64_t tables = 0;   // *.db
  std::uint64_t log = 0;      // log.*
  std::uint64_t regions = 0;  // __db.*
  std::uint64_t total = 0;    // everything in the directory
};

// Allocated bytes, not apparent sizes: what the directory costs the disk.
DiskUsage disk_usage(const std::string& dir) {
  DiskUsage usage;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const auto bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
    const std::string name = entry.path().filename().string();
    usage.total += bytes;
    if (name.ends_with(".db")) usage.tables += bytes;
    if (name.starts_with("log.")) usage.log += bytes;
    if (name.starts_with("__db.")) usage.regions += bytes;
  }
  return usage;
}

// Counts the triplets: passed, waiting, expired.
Status count_triplets(CtlContext& ctx, Store& store, const GreylistConfig& config,
                      EpochSeconds now, Counts& n) {
  return for_each_entry(ctx, store, Table::kTriplets, [&](const StoreEntry& entry) {
    const auto record = decode_triplet(entry.value);
    if (!record) {
      ++n.undecodable;
      return true;
    }
    ++n.triplets;
    ++(record->passed ? n.passed : n.waiting);
    if (triplet_expires_at(*record, config) <= now) ++n.expired;
    return true;
  });
}

// Counts one entry of the clients table; false when it cannot be decoded.
bool count_client_entry(const StoreEntry& entry, const GreylistConfig& config, EpochSeconds now,
                        Counts& n) {
  const auto key = StoredKey::parse(entry.key);
  if (key && key->kind == StoredKey::Kind::kClient) {
    const auto record = decode_client(entry.value);
    if (!record) return false;
    ++n.clients;
    if (config.auto_whitelist_clients > 0 && record->deliveries >= config.auto_whitelist_clients) {
      ++n.whitelisted_clients;
    }
    if (client_expires_at(*record, config) <= now) ++n.expired;
    return true;
  }
  if (key && key->kind == StoredKey::Kind::kDomain) {
    const auto record = decode_domain(entry.value);
    if (!record) return false;
    ++n.domains;
    if (config.auto_whitelist_domains > 0 &&
        record->sender_hashes.size() >= config.auto_whitelist_domains) {
      ++n.whitelisted_domains;
    }
    if (domain_expires_at(*record, config) <= now) ++n.expired;
    return true;
  }
  if (key && key->kind == StoredKey::Kind::kGreytrap) {
    const auto record = decode_trap(entry.value);
    if (!record) return false;
    ++(trap_expires_at(*record) <= now ? n.expired : n.traps);
    return true;
  }
  return false;
}

void print_counts(std::ostream& out, const Counts& n, const GreylistConfig& config) {
  out << "triplets: " << n.triplets << " (passed " << n.passed << ", waiting " << n.waiting
      << ")\n"
      << "clients: " << n.clients << " (auto-whitelisted " << n.whitelisted_clients
      << ", threshold " << config.auto_whitelist_clients << ")\n"
      << "sender domains: " << n.domains << " (auto-whitelisted " << n.whitelisted_domains
      << ", threshold " << config.auto_whitelist_domains << ")\n"
      << "greytrapped networks: " << n.traps << "\n"
      << "expired, not yet removed: " << n.expired << "\n"
      << "undecodable entries: " << n.undecodable << "\n";
}

}  // namespace

int run_stats(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("stats options");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "stats", options, {}, args, vm)) return *done;
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "stats", settings.status().message());
  const GreylistConfig& config = settings.value().greylist;
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: stats: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Store& store = *opened.value().store;
  const EpochSeconds now = SystemClock().now();
  Counts n;
  Status status = count_triplets(ctx, store, config, now, n);
  if (status.ok()) {
    status = for_each_entry(ctx, store, Table::kClients, [&](const StoreEntry& entry) {
      if (!count_client_entry(entry, config, now, n)) ++n.undecodable;
      return true;
    });
  }
  if (!status.ok()) {
    ctx.err << "greylistctl: stats: " << status.message() << "\n";
    return kExitFailure;
  }
  print_counts(ctx.out, n, config);
  if (opened.value().bdb != nullptr) {
    const DiskUsage usage = disk_usage(settings.value().dbdir);
    ctx.out << "database size: " << usage.total << " bytes (tables " << usage.tables << ", log "
            << usage.log << ", regions " << usage.regions << ") in " << settings.value().dbdir
            << "\n";
  } else {
    ctx.out << "database: " << store.name() << " (no size on this host)\n";
  }
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
