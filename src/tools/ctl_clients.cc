// greylistctl clients: postgrey_clients_dump's job. The client
// auto-whitelist counters, one line each: network, count, last seen.
#include <iostream>

#include "greylist/record_codec.h"
#include "tools/ctl_command.h"
#include "tools/ctl_output.h"
#include "tools/stored_key.h"

namespace po = boost::program_options;

namespace greylist {

namespace {

// What to list and how.
struct Listing {
  bool all = false;      // --all: every counter, not only those at the threshold
  bool domains = false;  // --domains: the sender-domain auto-whitelist
  bool json = false;
  std::uint32_t threshold = 0;

  // 0 means the auto-whitelist is off: nobody is whitelisted by it.
  bool listed(std::uint32_t count) const { return all || (threshold > 0 && count >= threshold); }
};

void print_client(std::ostream& out, const StoredKey& key, const ClientRecord& record, bool json) {
  const std::string client = key.hashed ? key.hash : key.client;
  if (json) {
    out << "{\"" << (key.hashed ? "hash" : "client") << "\":" << json_string(client)
        << ",\"count\":" << record.deliveries << ",\"last_seen\":"
        << json_string(iso8601(record.last_seen)) << ",\"last_seen_epoch\":" << record.last_seen
        << "}\n";
  } else {
    out << text_field(client) << " " << record.deliveries << " " << iso8601(record.last_seen)
        << "\n";
  }
}

void print_domain(std::ostream& out, const StoredKey& key, const DomainRecord& record,
                  std::uint32_t senders, bool json) {
  if (json) {
    out << "{";
    if (key.hashed) {
      out << "\"hash\":" << json_string(key.hash);
    } else {
      out << "\"client\":" << json_string(key.client) << ",\"domain\":" << json_string(key.domain);
    }
    out << ",\"senders\":" << senders << ",\"last_seen\":" << json_string(iso8601(record.last_seen))
        << ",\"last_seen_epoch\":" << record.last_seen << "}\n";
  } else {
    out << (key.hashed ? text_field(key.hash)
                       : text_field(key.client) + " " + text_field(key.domain))
        << " " << senders << " " << iso8601(record.last_seen) << "\n";
  }
}

// Prints `entry` when the listing wants it; false when it cannot be decoded.
bool print_entry(std::ostream& out, const StoreEntry& entry, const Listing& listing) {
  const auto key = StoredKey::parse(entry.key);
  if (!key) return false;
  if (!listing.domains && key->kind == StoredKey::Kind::kClient) {
    const auto record = decode_client(entry.value);
    if (!record) return false;
    if (listing.listed(record->deliveries)) print_client(out, *key, *record, listing.json);
  } else if (listing.domains && key->kind == StoredKey::Kind::kDomain) {
    const auto record = decode_domain(entry.value);
    if (!record) return false;
    const auto senders = static_cast<std::uint32_t>(record->sender_hashes.size());
    if (listing.listed(senders)) print_domain(out, *key, *record, senders, listing.json);
  }
  return true;
}

}  // namespace

int run_clients(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("clients options");
  options.add_options()
      ("all", po::bool_switch(), "every counter, not only those at the threshold")
      ("domains", po::bool_switch(), "list the sender-domain auto-whitelist instead")
      ("json", po::bool_switch(), "one JSON object per line")
      ("auto-whitelist-clients", po::value<unsigned>(),
       "threshold (default: the daemon's --auto-whitelist-clients)");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "clients", options, {}, args, vm)) return *done;
  Listing listing;
  listing.all = vm["all"].as<bool>();
  listing.domains = vm["domains"].as<bool>();
  listing.json = vm["json"].as<bool>();

  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "clients", settings.status().message());
  const GreylistConfig& config = settings.value().greylist;
  listing.threshold =
      listing.domains ? config.auto_whitelist_domains : config.auto_whitelist_clients;
  if (vm.count("auto-whitelist-clients") != 0) {
    listing.threshold = vm["auto-whitelist-clients"].as<unsigned>();
  }
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: clients: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  std::uint64_t undecodable = 0;
  const Status scanned = for_each_entry(ctx, *opened.value().store, Table::kClients,
                                        [&](const StoreEntry& entry) {
                                          if (!print_entry(ctx.out, entry, listing)) ++undecodable;
                                          return true;
                                        });
  return finish_listing(ctx, "clients", scanned, undecodable);
}

}  // namespace greylist
