// bulk-load: fills a greylist-milter database directory with N triplets for
// the scale benchmarks, writing through greylist::BdbStore so the files are
// exactly what the daemon reads.
//
// Triplet i is bench::prefill_triplet(i) (what policy-load's "prefilled"
// mix asks for), keyed by Greylister::triplet_key under the daemon's default
// settings, stored as passed (first seen two hours ago, last seen ten minutes
// ago: a request for it passes without writing). --expired M more entries
// are written with a last-seen older than --max-age, for the expiry sweep to
// remove while the benchmark runs. Keys are written in sorted order, which
// fills B-tree pages sequentially and is several times faster than random
// order. Prints one JSON line.
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <filesystem>
#include <iostream>

#include "bench_util.h"
#include "greylist/clock.h"
#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "store/bdb_store.h"

namespace {

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    if (stat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<std::uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv, {{"dbdir", ""}, {"count", "10000"}, {"expired", "0"}},
                     "usage: bulk-load --dbdir DIR --count N [--expired M]\n");
  const std::string dbdir = flags.str("dbdir");
  if (dbdir.empty()) flags.fail("--dbdir is required");
  const auto count = static_cast<std::uint64_t>(flags.integer("count", 1, 1LL << 36));
  const auto expired = static_cast<std::uint64_t>(flags.integer("expired", 0, 1LL << 36));
  std::error_code ec;
  std::filesystem::create_directories(dbdir, ec);

  greylist::BdbOptions options;  // the daemon's defaults (cache size, crash-safe)
  options.directory = dbdir;
  auto opened = greylist::BdbStore::open(options);
  if (!opened.ok()) {
    std::cerr << "bulk-load: " << opened.status().message() << "\n";
    return 1;
  }
  greylist::BdbStore& store = *opened.value();

  greylist::SystemClock clock;
  const greylist::GreylistConfig config;  // the daemon's defaults: keys by /24 network
  const greylist::Greylister greylister(config, store, clock);
  const greylist::EpochSeconds now = clock.now();
  const std::string live_value = greylist::encode_triplet({now - 7200, now - 600, true});
  const std::string expired_value =
      greylist::encode_triplet({now - config.max_age - 86400 * 3, now - config.max_age - 86400, true});

  const std::uint64_t start = bench::now_ns();
  // (key, expired?) sorted by key.
  std::vector<std::pair<std::string, bool>> keys;
  keys.reserve(count + expired);
  for (std::uint64_t i = 0; i < count + expired; ++i) {
    const bench::PrefillTriplet t = bench::prefill_triplet(i);
    greylist::Request request;
    request.client_address = t.client_address;
    request.sender = t.sender;
    request.recipient = t.recipient;
    keys.emplace_back(greylister.triplet_key(request), i >= count);
  }
  std::sort(keys.begin(), keys.end());
  const double generate_s = static_cast<double>(bench::now_ns() - start) / 1e9;

  const std::uint64_t write_start = bench::now_ns();
  std::uint64_t written = 0;
  for (const auto& [key, is_expired] : keys) {
    const auto& value = is_expired ? expired_value : live_value;
    const greylist::Status status = store.put(greylist::Table::kTriplets, key, value, 0);
    if (!status.ok()) {
      std::cerr << "bulk-load: put failed after " << written << " entries: " << status.message() << "\n";
      return 1;
    }
    if (++written % 1000000 == 0) {
      std::cerr << "bulk-load: " << written << " entries, "
                << static_cast<double>(written) / (static_cast<double>(bench::now_ns() - write_start) / 1e9)
                << " /s\n";
    }
  }
  const double write_s = static_cast<double>(bench::now_ns() - write_start) / 1e9;
  keys.clear();
  keys.shrink_to_fit();
  if (const greylist::Status status = store.checkpoint(); !status.ok()) {
    std::cerr << "bulk-load: checkpoint failed: " << status.message() << "\n";
    return 1;
  }
  opened.value().reset();  // closes the environment: the directory is ready for the daemon

  std::uint64_t db_file = 0;
  struct stat st {};
  if (stat((dbdir + "/triplets.db").c_str(), &st) == 0) db_file = static_cast<std::uint64_t>(st.st_blocks) * 512;
  const std::uint64_t dir_bytes = directory_bytes(dbdir);
  std::printf("{\"tool\":\"bulk-load\",\"count\":%" PRIu64 ",\"expired\":%" PRIu64
              ",\"generate_s\":%.2f,\"write_s\":%.2f,\"write_rate\":%.0f,\"triplets_db_bytes\":%" PRIu64
              ",\"dir_bytes\":%" PRIu64 ",\"bytes_per_triplet\":%.1f}\n",
              count, expired, generate_s, write_s, static_cast<double>(written) / write_s, db_file, dir_bytes,
              static_cast<double>(db_file) / static_cast<double>(count + expired));
  return 0;
}
