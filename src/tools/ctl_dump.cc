// greylistctl dump: every triplet, decoded from its stored key and record.
#include <iostream>

#include "greylist/record_codec.h"
#include "tools/ctl_command.h"
#include "tools/ctl_output.h"
#include "tools/stored_key.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

// One line of the dump: text fields, or a JSON object with --json.
void print_triplet(std::ostream& out, const StoredKey& key, const TripletRecord& record,
                   bool json) {
  if (json) {
    out << "{";
    if (key.hashed) {
      out << "\"hash\":" << json_string(key.hash);
    } else {
      out << "\"client\":" << json_string(key.client) << ",\"sender\":" << json_string(key.sender)
          << ",\"recipient\":" << json_string(key.recipient);
    }
    out << ",\"first_seen\":" << json_string(iso8601(record.first_seen))
        << ",\"last_seen\":" << json_string(iso8601(record.last_seen))
        << ",\"first_seen_epoch\":" << record.first_seen
        << ",\"last_seen_epoch\":" << record.last_seen
        << ",\"passed\":" << (record.passed ? "true" : "false") << "}\n";
  } else {
    if (key.hashed) {
      out << "hash:" << key.hash;
    } else {
      out << text_field(key.client) << " " << text_field(key.sender) << " "
          << text_field(key.recipient);
    }
    out << " " << iso8601(record.first_seen) << " " << iso8601(record.last_seen) << " "
        << (record.passed ? "passed" : "waiting") << "\n";
  }
}

}  // namespace

int run_dump(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("dump options");
  options.add_options()("json", po::bool_switch(), "one JSON object per line");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "dump", options, {}, args, vm)) return *done;
  const bool json = vm["json"].as<bool>();

  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "dump", settings.status().message());
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: dump: " << opened.status().message() << "\n";
    return kExitFailure;
  }

  std::uint64_t undecodable = 0;
  const Status scanned = for_each_entry(ctx, *opened.value().store, Table::kTriplets,
                                        [&](const StoreEntry& entry) {
    const auto key = StoredKey::parse(entry.key);
    const auto record = decode_triplet(entry.value);
    if (!key || key->kind != StoredKey::Kind::kTriplet || !record) {
      ++undecodable;
      return true;
    }
    print_triplet(ctx.out, *key, *record, json);
    return true;
  });
  return finish_listing(ctx, "dump", scanned, undecodable);
}

}  // namespace greylist
