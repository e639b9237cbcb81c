#include "tools/postgrey_import.h"

#include <db_cxx.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "greylist/ip_address.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "util/temp_dir.h"

namespace greylist {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTripletFile = "postgrey.db";
constexpr const char* kClientFile = "postgrey_clients.db";
constexpr const char* kLockFile = "postgrey.lock";

std::optional<std::int64_t> whole_number(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

// The first two comma-separated numbers of `value`.
std::optional<std::pair<std::int64_t, std::int64_t>> two_numbers(std::string_view value) {
  const std::size_t comma = value.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  std::string_view second = value.substr(comma + 1);
  second = second.substr(0, second.find(','));
  const auto a = whole_number(value.substr(0, comma));
  const auto b = whole_number(second);
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

bool is_sha1_hex(std::string_view key) {
  return key.size() == 40 && std::all_of(key.begin(), key.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Berkeley DB's messages while reading postgrey's files, for the error.
std::string& db_messages() {
  static std::string messages;
  return messages;
}

void collect_db_error(const DbEnv* /*env*/, const char* /*prefix*/, const char* message) {
  if (message == nullptr || db_messages().size() > 1000) return;
  if (!db_messages().empty()) db_messages() += "; ";
  db_messages() += message;
}

// Every entry of one B-tree file, opened read-only (inside `env` when
// given). 0 or a Berkeley DB error.
int read_table(DbEnv* env, const std::string& file, std::vector<StoreEntry>& out) {
  Db db(env, DB_CXX_NO_EXCEPTIONS);
  if (env == nullptr) db.set_errcall(collect_db_error);
  int ret = db.open(nullptr, file.c_str(), nullptr, DB_UNKNOWN, DB_RDONLY, 0);
  if (ret != 0) {
    db.close(0);
    return ret;
  }
  Dbc* cursor = nullptr;
  ret = db.cursor(nullptr, &cursor, 0);
  if (ret == 0) {
    Dbt key;
    Dbt data;
    while ((ret = cursor->get(&key, &data, DB_NEXT)) == 0) {
      out.push_back({std::string(static_cast<const char*>(key.get_data()), key.get_size()),
                     std::string(static_cast<const char*>(data.get_data()), data.get_size())});
    }
    if (ret == DB_NOTFOUND) ret = 0;
    cursor->close();
  }
  const int closed = db.close(0);
  return ret != 0 ? ret : closed;
}

std::string db_failure(const std::string& what, int error) {
  std::string message = what + ": " + db_strerror(error);
  if (!db_messages().empty()) message += " (" + db_messages() + ")";
  return message;
}

// Refuses a `dir` that is not a postgrey database, or one postgrey runs on.
Status check_postgrey_directory(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return Status::InvalidArgument("postgrey database directory " + dir + " is not a directory");
  }
  if (!fs::exists(fs::path(dir) / kTripletFile, error)) {
    return Status::InvalidArgument(dir + "/" + kTripletFile + " does not exist");
  }
  // postgrey holds an exclusive flock on postgrey.lock while it runs; its
  // files are not consistent on disk then.
  const std::string lock_path = dir + "/" + kLockFile;
  if (const int lock = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW); lock >= 0) {
    const bool busy = ::flock(lock, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(lock);
    if (busy) {
      return Status::Unavailable("postgrey is running on " + dir + " (" + lock_path +
                                 " is locked): stop it first");
    }
  }
  return Status::Ok();
}

}  // namespace

std::optional<PostgreyTripletKey> parse_postgrey_triplet_key(std::string_view key) {
  const std::size_t first = key.find('/');
  if (first == std::string_view::npos || first == 0) return std::nullopt;
  PostgreyTripletKey out;
  out.client_address = std::string(key.substr(0, first));
  const auto address = IpAddress::parse(out.client_address);
  if (!address) return std::nullopt;
  std::string_view rest = key.substr(first + 1);
  const std::string_view mask = address->family() == IpAddress::Family::kV4 ? "32/" : "128/";
  if (rest.starts_with(mask) && rest.substr(mask.size()).find('/') != std::string_view::npos) {
    out.host_mask = true;
    rest.remove_prefix(mask.size());
  }
  const std::size_t last = rest.rfind('/');
  if (last == std::string_view::npos || last + 1 == rest.size()) return std::nullopt;
  out.sender = std::string(rest.substr(0, last));
  out.recipient = std::string(rest.substr(last + 1));
  return out;
}

std::optional<PostgreyTimes> parse_postgrey_triplet_value(std::string_view value) {
  const auto numbers = two_numbers(value);
  if (!numbers) return std::nullopt;
  return PostgreyTimes{numbers->first, numbers->second};
}

std::optional<PostgreyClient> parse_postgrey_client_value(std::string_view value) {
  const auto numbers = two_numbers(value);
  if (!numbers || numbers->first > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return PostgreyClient{static_cast<std::uint32_t>(numbers->first), numbers->second};
}

Result<PostgreyDatabase> read_postgrey_database(const std::string& dir) {
  PostgreyDatabase out;
  if (const Status usable = check_postgrey_directory(dir); !usable.ok()) return usable;
  std::error_code error;

  // A private copy: recovery writes, and postgrey's files stay untouched.
  auto made = TempDir::create("greylistctl-postgrey");
  if (!made.ok()) return made.status();
  const TempDir copy = std::move(made).value();
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.starts_with("__db.") || name.ends_with(".lock")) continue;
    if (!fs::copy_file(entry.path(), fs::path(copy.path()) / name, error)) {
      return Status::IoError("cannot copy " + entry.path().string() + ": " + error.message());
    }
  }
  if (error) return Status::IoError("cannot read " + dir + ": " + error.message());
  out.has_clients_file = fs::exists(fs::path(copy.path()) / kClientFile, error);

  db_messages().clear();
  {
    // postgrey's environment: DB_INIT_TXN | DB_INIT_MPOOL | DB_INIT_LOG,
    // no locking. Recovery replays its log into the copied tables.
    DbEnv env(DB_CXX_NO_EXCEPTIONS);
    env.set_errcall(collect_db_error);
    int ret = env.open(copy.path().c_str(),
                       DB_CREATE | DB_RECOVER | DB_INIT_TXN | DB_INIT_MPOOL | DB_INIT_LOG |
                           DB_PRIVATE,
                       0600);
    if (ret == 0) {
      ret = read_table(&env, kTripletFile, out.triplets);
      if (ret == 0 && out.has_clients_file) ret = read_table(&env, kClientFile, out.clients);
      if (ret == 0) out.recovered = true;
    }
    env.close(0);
    if (!out.recovered) {
      out.warnings.push_back(db_failure("cannot recover a copy of postgrey's environment", ret) +
                             "; reading its database files directly");
    }
  }
  if (!out.recovered) {
    out.triplets.clear();
    out.clients.clear();
    db_messages().clear();
    const std::string triplets = copy.path() + "/" + kTripletFile;
    if (const int ret = read_table(nullptr, triplets, out.triplets); ret != 0) {
      return Status::IoError(db_failure("cannot read " + dir + "/" + kTripletFile, ret));
    }
    if (out.has_clients_file) {
      const std::string clients = copy.path() + "/" + kClientFile;
      if (const int ret = read_table(nullptr, clients, out.clients); ret != 0) {
        return Status::IoError(db_failure("cannot read " + dir + "/" + kClientFile, ret));
      }
    }
  }
  return out;
}

PostgreyImport::PostgreyImport(const Greylister& keys, Store& store, std::int64_t postgrey_delay,
                               EpochSeconds now)
    : keys_(keys), store_(store), postgrey_delay_(postgrey_delay), now_(now) {}

Result<ImportReport> PostgreyImport::run(const PostgreyDatabase& database, bool dry_run,
                                         const std::atomic<bool>& interrupted) const {
  ImportReport report;
  // Converted first, so keys that fall together are combined before any write.
  const Triplets triplets = convert_triplets(database, report);
  const Clients clients = convert_clients(database, report);
  if (Status s = write_triplets(triplets, dry_run, interrupted, report); !s.ok()) return s;
  if (Status s = write_clients(clients, dry_run, interrupted, report); !s.ok()) return s;
  return report;
}

PostgreyImport::Triplets PostgreyImport::convert_triplets(const PostgreyDatabase& database,
                                                          ImportReport& report) const {
  const GreylistConfig& config = keys_.config();
  Triplets triplets;
  for (const StoreEntry& entry : database.triplets) {
    ++report.triplets_read;
    const auto key = parse_postgrey_triplet_key(entry.key);
    const auto times = parse_postgrey_triplet_value(entry.value);
    if (!key) {
      ++report.triplets_skipped[is_sha1_hex(entry.key) ? "postgrey --privacy hash"
                                                       : "unparsable key"];
      continue;
    }
    if (!times) {
      ++report.triplets_skipped["unparsable value"];
      continue;
    }
    const auto address = IpAddress::parse(key->client_address);
    if (address && address->family() == IpAddress::Family::kV6 && address->masked(0) == *address) {
      // postgrey keys every IPv4-mapped client as the network ::/64, which
      // we key as IPv4: such an entry can never match.
      ++report.triplets_skipped["IPv4-mapped client (postgrey's ::)"];
      continue;
    }
    Request request;
    request.client_address = key->client_address;
    request.sender = key->sender;
    request.recipient = key->recipient;
    TripletRecord record;
    record.first_seen = times->first;
    record.last_seen = std::max(times->first, times->last);
    record.passed = record.last_seen - record.first_seen >= postgrey_delay_;
    record.first_network = record_hash(client_network(key->client_address, config), config);
    if (triplet_expires_at(record, config) <= now_) {
      ++report.triplets_expired;
      continue;
    }
    auto [it, inserted] = triplets.try_emplace(keys_.triplet_key(request), record);
    if (!inserted) {
      it->second.first_seen = std::min(it->second.first_seen, record.first_seen);
      it->second.last_seen = std::max(it->second.last_seen, record.last_seen);
      it->second.passed = it->second.passed || record.passed;
    }
  }
  return triplets;
}

PostgreyImport::Clients PostgreyImport::convert_clients(const PostgreyDatabase& database,
                                                        ImportReport& report) const {
  const GreylistConfig& config = keys_.config();
  Clients clients;
  for (const StoreEntry& entry : database.clients) {
    ++report.clients_read;
    const auto address = IpAddress::parse(entry.key);
    const auto value = parse_postgrey_client_value(entry.value);
    if (!address) {
      ++report.clients_skipped[is_sha1_hex(entry.key) ? "postgrey --privacy hash"
                                                      : "unparsable address"];
      continue;
    }
    if (!value) {
      ++report.clients_skipped["unparsable value"];
      continue;
    }
    if (value->count == 0) {
      ++report.clients_skipped["count 0"];
      continue;
    }
    const ClientRecord record{value->count, value->last};
    if (client_expires_at(record, config) <= now_) {
      ++report.clients_expired;
      continue;
    }
    Request request;
    request.client_address = entry.key;
    auto [it, inserted] = clients.try_emplace(keys_.client_key(request), record);
    if (!inserted) {
      const std::uint64_t sum = std::uint64_t{it->second.deliveries} + record.deliveries;
      it->second.deliveries = static_cast<std::uint32_t>(
          std::min<std::uint64_t>(sum, std::numeric_limits<std::uint32_t>::max()));
      it->second.last_seen = std::max(it->second.last_seen, record.last_seen);
    }
  }
  return clients;
}

Status PostgreyImport::write_triplets(const Triplets& triplets, bool dry_run,
                                      const std::atomic<bool>& interrupted,
                                      ImportReport& report) const {
  const GreylistConfig& config = keys_.config();
  for (const auto& [key, imported] : triplets) {
    if (interrupted.load()) return Status::Unavailable("interrupted");
    bool merged = false;
    bool passed = imported.passed;
    const Status written = store_.update(
        Table::kTriplets, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
          TripletRecord record = imported;
          const auto existing = value ? decode_triplet(*value) : std::nullopt;
          merged = existing.has_value();
          if (existing) {
            record.first_seen = std::min(existing->first_seen, imported.first_seen);
            record.last_seen = std::max(existing->last_seen, imported.last_seen);
            record.passed = existing->passed || imported.passed;
            if (existing->first_network != 0) record.first_network = existing->first_network;
          }
          passed = record.passed;
          if (dry_run) return {};
          value = encode_triplet(record);
          return {UpdateOutcome::Verdict::kWrite, triplet_expires_at(record, config)};
        });
    if (!written.ok()) return written;
    if (merged) {
      ++report.triplets_merged;
    } else {
      ++report.triplets_imported;
      if (passed) ++report.triplets_passed;
    }
  }
  return Status::Ok();
}

Status PostgreyImport::write_clients(const Clients& clients, bool dry_run,
                                     const std::atomic<bool>& interrupted,
                                     ImportReport& report) const {
  const GreylistConfig& config = keys_.config();
  for (const auto& [key, imported] : clients) {
    if (interrupted.load()) return Status::Unavailable("interrupted");
    bool merged = false;
    const Status written = store_.update(
        Table::kClients, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
          ClientRecord record = imported;
          const auto existing = value ? decode_client(*value) : std::nullopt;
          merged = existing.has_value();
          if (existing) {
            record.deliveries = std::max(existing->deliveries, imported.deliveries);
            record.last_seen = std::max(existing->last_seen, imported.last_seen);
          }
          if (dry_run) return {};
          value = encode_client(record);
          return {UpdateOutcome::Verdict::kWrite, client_expires_at(record, config)};
        });
    if (!written.ok()) return written;
    ++(merged ? report.clients_merged : report.client_networks);
  }
  return Status::Ok();
}

}  // namespace greylist
