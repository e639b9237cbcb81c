// greylistctl delete: forget a client network (its auto-whitelist counters
// and its triplets), one triplet, or stored keys given as dump shows them.
#include <iostream>

#include "greylist/greylister.h"
#include "greylist/ip_address.h"
#include "greylist/triplet.h"
#include "tools/ctl_command.h"
#include "tools/ctl_output.h"
#include "tools/stored_key.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

struct Target {
  Table table;
  std::string key;
};

// The table a raw key belongs to, from its prefix.
std::optional<Table> table_of(const std::string& key) {
  const auto parsed = StoredKey::parse(key);
  if (!parsed) return std::nullopt;
  return parsed->kind == StoredKey::Kind::kTriplet ? Table::kTriplets : Table::kClients;
}

}  // namespace

int run_delete(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("delete options");
  options.add_options()
      ("client-net", po::value<std::vector<std::string>>()->composing(),
       "a client network (or an address in it): its client and domain auto-whitelist entries "
       "and all its triplets")
      ("triplet", po::value<std::vector<std::string>>()->multitoken(),
       "ADDR SENDER RECIPIENT: the triplet the daemon would use for them")
      ("client-name", po::value<std::string>()->default_value("unknown"),
       "with --triplet: the client's verified name (matters with --pool-by-domain)")
      ("key", po::value<std::vector<std::string>>()->composing(),
       ("a stored key, as 'greylistctl dump --json' or the database shows it (" +
        std::string(kTripletKeyPrefix) + "..., " + std::string(kClientKeyPrefix) + "..., " +
        std::string(kDomainKeyPrefix) + "..., " + std::string(kHashedTripletKeyPrefix) + "...)")
           .c_str())
      ("dry-run", po::bool_switch(), "print what would be deleted, delete nothing");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "delete", options, {}, args, vm)) return *done;
  const bool dry_run = vm["dry-run"].as<bool>();
  const auto list = [&](const char* name) {
    return vm.count(name) != 0 ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
  };
  const auto networks = list("client-net");
  const auto triplet = list("triplet");
  const auto keys = list("key");
  if (networks.empty() && triplet.empty() && keys.empty()) {
    return usage_error(ctx, "delete", "give --client-net, --triplet or --key");
  }
  if (!triplet.empty() && triplet.size() != 3) {
    return usage_error(ctx, "delete", "--triplet takes three values: ADDR SENDER RECIPIENT");
  }
  for (const auto& network : networks) {
    if (!IpAddress::parse(network)) {
      return usage_error(ctx, "delete", "'" + network + "' is not an IPv4 or IPv6 address");
    }
  }
  if (!triplet.empty() && !IpAddress::parse(triplet[0])) {
    return usage_error(ctx, "delete", "'" + triplet[0] + "' is not an IPv4 or IPv6 address");
  }
  std::vector<Target> targets;
  for (const auto& key : keys) {
    const auto table = table_of(key);
    if (!table) return usage_error(ctx, "delete", "'" + key + "' is not a stored key");
    targets.push_back({*table, key});
  }

  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "delete", settings.status().message());
  GreylistConfig config = settings.value().greylist;
  auto privacy_key = read_privacy_key(settings.value());
  if (!privacy_key.ok()) {
    ctx.err << "greylistctl: delete: " << privacy_key.status().message() << "\n";
    return kExitFailure;
  }
  config.privacy_key = privacy_key.value();
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: delete: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Store& store = *opened.value().store;
  SystemClock clock;
  // For its keys only. A pool key (--pool-by-domain) needs --client-name
  // and the Public Suffix List.
  std::unique_ptr<RegisteredDomains> domains;
  if (!triplet.empty() && config.pool_by_domain) {
    auto psl = open_public_suffix_list();
    if (psl.ok()) domains = std::move(psl).value();
  }
  const Greylister greylister(config, store, clock, domains.get());

  if (!triplet.empty()) {
    Request request;
    request.client_address = triplet[0];
    request.sender = triplet[1];
    request.recipient = triplet[2];
    request.client_name = vm["client-name"].as<std::string>();
    targets.push_back({Table::kTriplets, greylister.triplet_key(request)});
  }

  std::uint64_t found = 0;
  std::uint64_t found_triplets = 0;
  const auto remove = [&](Table table, const std::string& key) -> Status {
    auto present = store.get(table, key);
    if (!present.ok()) return present.status();
    if (!present.value()) return Status::Ok();
    ++found;
    if (table == Table::kTriplets) ++found_triplets;
    ctx.out << (dry_run ? "would delete " : "deleted ")
            << (table == Table::kTriplets ? "triplet " : "client entry ") << text_field(key) << "\n";
    return dry_run ? Status::Ok() : store.erase(table, key);
  };

  Status status;
  for (const Target& target : targets) {
    if (status = remove(target.table, target.key); !status.ok()) break;
  }
  for (const auto& address : networks) {
    if (!status.ok()) break;
    Request request;
    request.client_address = address;
    const std::string network = client_network(address, config);
    if (status = remove(Table::kClients, greylister.client_key(request)); !status.ok()) break;
    if (config.privacy) {
      ctx.err << "greylistctl: delete: --privacy: the triplets and sender-domain entries of "
              << network << " are hashed and cannot be found by network\n";
      continue;
    }
    // Collected first: the scans stay read-only, each erase is its own
    // transaction.
    std::vector<Target> matches;
    for (const Table table : {Table::kClients, Table::kTriplets}) {
      status = for_each_entry(ctx, store, table, [&](const StoreEntry& entry) {
        const auto key = StoredKey::parse(entry.key);
        if (key && !key->hashed && key->kind != StoredKey::Kind::kClient && key->client == network) {
          matches.push_back({table, entry.key});
        }
        return true;
      });
      if (!status.ok()) break;
    }
    for (const Target& match : matches) {
      if (ctx.interrupted.load()) status = Status::Unavailable("interrupted");
      if (!status.ok()) break;
      status = remove(match.table, match.key);
    }
  }
  ctx.out.flush();
  if (!status.ok()) {
    ctx.err << "greylistctl: delete: " << status.message() << "\n";
    return kExitFailure;
  }
  ctx.out << (dry_run ? "would delete " : "deleted ") << found << " entries (" << found_triplets
          << " triplets, " << found - found_triplets << " client entries)\n";
  if (found == 0) {
    ctx.err << "greylistctl: delete: nothing matched\n";
    return kExitFailure;
  }
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
