// greylistctl list-traps and delete-trap: the client networks greytrap
// rules trapped (greylist-milter.rules(5)), listed one per line (network,
// trapped since, until), and one of them set free.
#include <iostream>

#include "greylist/ip_address.h"
#include "greylist/key_layout.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "tools/ctl_command.h"
#include "tools/ctl_output.h"
#include "tools/stored_key.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

void print_trap(std::ostream& out, const StoredKey& key, const TrapRecord& record,
                const GreylistConfig& config, bool json) {
  const std::string network = key.hashed ? std::string() : network_with_prefix(key.client, config);
  if (json) {
    out << "{\"" << (key.hashed ? "hash" : "network")
        << "\":" << json_string(key.hashed ? key.hash : network)
        << ",\"trapped_at\":" << json_string(iso8601(record.trapped_at))
        << ",\"hold_until\":" << json_string(iso8601(record.hold_until))
        << ",\"trapped_at_epoch\":" << record.trapped_at
        << ",\"hold_until_epoch\":" << record.hold_until << "}\n";
  } else {
    out << (key.hashed ? "hash:" + key.hash : text_field(network)) << " "
        << iso8601(record.trapped_at) << " " << iso8601(record.hold_until) << "\n";
  }
}

// Prints `entry` when it is a trap the listing wants (held now, or any with
// `all`); false when a greytrap entry does not decode.
bool print_entry(std::ostream& out, const StoreEntry& entry, const GreylistConfig& config,
                 bool all, bool json, EpochSeconds now) {
  const auto key = StoredKey::parse(entry.key);
  if (!key || key->kind != StoredKey::Kind::kGreytrap) return true;
  const auto record = decode_trap(entry.value);
  if (!record) return false;
  if (all || record->hold_until > now) print_trap(out, *key, *record, config, json);
  return true;
}

}  // namespace

int run_list_traps(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("list-traps options");
  options.add_options()
      ("all", po::bool_switch(), "also traps whose hold is over but not yet removed")
      ("json", po::bool_switch(), "one JSON object per line");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "list-traps", options, {}, args, vm)) return *done;
  const bool all = vm["all"].as<bool>();
  const bool json = vm["json"].as<bool>();
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "list-traps", settings.status().message());
  const GreylistConfig& config = settings.value().greylist;
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: list-traps: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  const EpochSeconds now = SystemClock().now();
  std::uint64_t undecodable = 0;
  const Status scanned = for_each_entry(ctx, *opened.value().store, Table::kClients,
                                        [&](const StoreEntry& entry) {
                                          if (!print_entry(ctx.out, entry, config, all, json,
                                                           now)) {
                                            ++undecodable;
                                          }
                                          return true;
                                        });
  return finish_listing(ctx, "list-traps", scanned, undecodable);
}

int run_delete_trap(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("delete-trap options");
  options.add_options()
      ("network", po::value<std::string>(),
       "the trapped network (as list-traps prints it), or an address in it")
      ("dry-run", po::bool_switch(), "print what would be deleted, delete nothing");
  po::positional_options_description positional;
  positional.add("network", 1);
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "delete-trap", options, positional, args, vm)) return *done;
  if (vm.count("network") == 0) return usage_error(ctx, "delete-trap", "no network given");
  const std::string given = vm["network"].as<std::string>();
  const auto parsed = IpNetwork::parse(given);
  if (!parsed) {
    return usage_error(ctx, "delete-trap",
                       "'" + given + "' is not an IPv4 or IPv6 address or network");
  }
  const std::string address = parsed->base().to_string();
  const bool dry_run = vm["dry-run"].as<bool>();
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "delete-trap", settings.status().message());
  GreylistConfig config = settings.value().greylist;
  auto privacy_key = read_privacy_key(settings.value());
  auto opened = privacy_key.ok() ? open_store(settings.value(), false)
                                 : Result<OpenedStore>(privacy_key.status());
  if (!opened.ok()) {
    ctx.err << "greylistctl: delete-trap: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  config.privacy_key = privacy_key.value();
  Store& store = *opened.value().store;
  const std::string network = client_network_text(address, config);
  const std::string key = RecordKeys(config, nullptr).greytrap_key_of(address);
  auto found = store.get(Table::kClients, key);
  Status status = found.ok() ? Status::Ok() : found.status();
  if (status.ok() && found.value() && !dry_run) status = store.erase(Table::kClients, key);
  if (!status.ok()) {
    ctx.err << "greylistctl: delete-trap: " << status.message() << "\n";
    return kExitFailure;
  }
  if (!found.value()) {
    ctx.err << "greylistctl: delete-trap: " << network << " is not trapped\n";
    return kExitFailure;
  }
  ctx.out << (dry_run ? "would delete the trap of " : "deleted the trap of ") << network << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
