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

po::options_description delete_options() {
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
        std::string(kDomainKeyPrefix) + "..., " + std::string(kGreytrapKeyPrefix) + "..., " +
        std::string(kHashedTripletKeyPrefix) + "...)")
           .c_str())
      ("dry-run", po::bool_switch(), "print what would be deleted, delete nothing");
  return options;
}

// What the command line asks to delete.
struct DeleteRequest {
  bool dry_run = false;
  std::vector<std::string> networks;  // --client-net
  std::vector<std::string> triplet;   // --triplet: empty or ADDR SENDER RECIPIENT
  std::string client_name;            // --client-name
  std::vector<Target> keys;           // --key, with their tables
};

// Checks the arguments before anything is opened; a usage error is the
// problem to print.
Result<DeleteRequest> read_request(const po::variables_map& vm) {
  const auto list = [&](const char* name) {
    return vm.count(name) != 0 ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
  };
  DeleteRequest request;
  request.dry_run = vm["dry-run"].as<bool>();
  request.networks = list("client-net");
  request.triplet = list("triplet");
  request.client_name = vm["client-name"].as<std::string>();
  const auto keys = list("key");
  if (request.networks.empty() && request.triplet.empty() && keys.empty()) {
    return Status::InvalidArgument("give --client-net, --triplet or --key");
  }
  if (!request.triplet.empty() && request.triplet.size() != 3) {
    return Status::InvalidArgument("--triplet takes three values: ADDR SENDER RECIPIENT");
  }
  for (const auto& network : request.networks) {
    if (!IpAddress::parse(network)) {
      return Status::InvalidArgument("'" + network + "' is not an IPv4 or IPv6 address");
    }
  }
  if (!request.triplet.empty() && !IpAddress::parse(request.triplet[0])) {
    return Status::InvalidArgument("'" + request.triplet[0] + "' is not an IPv4 or IPv6 address");
  }
  for (const auto& key : keys) {
    const auto table = table_of(key);
    if (!table) return Status::InvalidArgument("'" + key + "' is not a stored key");
    request.keys.push_back({*table, key});
  }
  return request;
}

// Deletes (or with --dry-run lists) entries one at a time, printing each
// and counting them.
class Deleter {
 public:
  Deleter(CtlContext& ctx, Store& store, bool dry_run) : ctx_(ctx), store_(store), dry_run_(dry_run) {}

  // Deletes the entry if it exists (each erase is its own transaction).
  Status remove(Table table, const std::string& key) {
    auto present = store_.get(table, key);
    if (!present.ok()) return present.status();
    if (!present.value()) return Status::Ok();
    ++found_;
    if (table == Table::kTriplets) ++found_triplets_;
    ctx_.out << (dry_run_ ? "would delete " : "deleted ")
             << (table == Table::kTriplets ? "triplet " : "client entry ") << text_field(key)
             << "\n";
    return dry_run_ ? Status::Ok() : store_.erase(table, key);
  }

  // The client entry of the network of `address`, and (without --privacy)
  // every triplet and sender-domain entry keyed on that network.
  Status remove_network(const std::string& address, const Greylister& greylister,
                        const GreylistConfig& config) {
    Request request;
    request.client_address = address;
    const std::string network = client_network(address, config);
    if (Status status = remove(Table::kClients, greylister.client_key(request)); !status.ok()) {
      return status;
    }
    if (config.privacy) {
      ctx_.err << "greylistctl: delete: --privacy: the triplets and sender-domain entries of "
               << network << " are hashed and cannot be found by network\n";
      return Status::Ok();
    }
    auto matches = entries_of_network(network);
    if (!matches.ok()) return matches.status();
    for (const Target& match : matches.value()) {
      if (ctx_.interrupted.load()) return Status::Unavailable("interrupted");
      if (Status status = remove(match.table, match.key); !status.ok()) return status;
    }
    return Status::Ok();
  }

  // The closing count on ctx.out ("deleted N entries (...)"); the exit status.
  int finish() {
    ctx_.out << (dry_run_ ? "would delete " : "deleted ") << found_ << " entries ("
             << found_triplets_ << " triplets, " << found_ - found_triplets_
             << " client entries)\n";
    if (found_ == 0) {
      ctx_.err << "greylistctl: delete: nothing matched\n";
      return kExitFailure;
    }
    return ctx_.out ? kExitOk : kExitFailure;
  }

 private:
  // Collected first: the scans stay read-only, each erase is its own
  // transaction.
  Result<std::vector<Target>> entries_of_network(const std::string& network) {
    std::vector<Target> matches;
    for (const Table table : {Table::kClients, Table::kTriplets}) {
      const Status status = for_each_entry(ctx_, store_, table, [&](const StoreEntry& entry) {
        const auto key = StoredKey::parse(entry.key);
        // Its trap stays (delete-trap removes it): deleting a network's
        // greylisting state must not free it from a greytrap's hold.
        if (key && !key->hashed && key->kind != StoredKey::Kind::kClient &&
            key->kind != StoredKey::Kind::kGreytrap && key->client == network) {
          matches.push_back({table, entry.key});
        }
        return true;
      });
      if (!status.ok()) return status;
    }
    return matches;
  }

  CtlContext& ctx_;
  Store& store_;
  const bool dry_run_;
  std::uint64_t found_ = 0;
  std::uint64_t found_triplets_ = 0;
};

// The daemon's greylisting settings with the privacy key read in.
Result<GreylistConfig> greylist_config(const DaemonOptions& settings) {
  GreylistConfig config = settings.greylist;
  auto privacy_key = read_privacy_key(settings);
  if (!privacy_key.ok()) return privacy_key.status();
  config.privacy_key = privacy_key.value();
  return config;
}

// Deletes what `request` names from the open store.
Status delete_entries(const DeleteRequest& request, const GreylistConfig& config, Store& store,
                      Deleter& deleter) {
  SystemClock clock;
  // For its keys only. A pool key (--pool-by-domain) needs --client-name
  // and the Public Suffix List.
  std::unique_ptr<RegisteredDomains> domains;
  if (!request.triplet.empty() && config.pool_by_domain) {
    auto psl = open_public_suffix_list();
    if (psl.ok()) domains = std::move(psl).value();
  }
  const Greylister greylister(config, store, clock, domains.get());
  std::vector<Target> targets = request.keys;
  if (!request.triplet.empty()) {
    Request triplet;
    triplet.client_address = request.triplet[0];
    triplet.sender = request.triplet[1];
    triplet.recipient = request.triplet[2];
    triplet.client_name = request.client_name;
    targets.push_back({Table::kTriplets, greylister.triplet_key(triplet)});
  }
  for (const Target& target : targets) {
    if (Status status = deleter.remove(target.table, target.key); !status.ok()) return status;
  }
  for (const auto& address : request.networks) {
    if (Status status = deleter.remove_network(address, greylister, config); !status.ok()) {
      return status;
    }
  }
  return Status::Ok();
}

}  // namespace

int run_delete(CtlContext& ctx, const std::vector<std::string>& args) {
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "delete", delete_options(), {}, args, vm)) return *done;
  auto request = read_request(vm);
  if (!request.ok()) return usage_error(ctx, "delete", request.status().message());
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "delete", settings.status().message());
  auto config = greylist_config(settings.value());
  if (!config.ok()) {
    ctx.err << "greylistctl: delete: " << config.status().message() << "\n";
    return kExitFailure;
  }
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: delete: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Deleter deleter(ctx, *opened.value().store, request.value().dry_run);
  const Status status =
      delete_entries(request.value(), config.value(), *opened.value().store, deleter);
  ctx.out.flush();
  if (!status.ok()) {
    ctx.err << "greylistctl: delete: " << status.message() << "\n";
    return kExitFailure;
  }
  return deleter.finish();
}

}  // namespace greylist
