// Importing postgrey's database (postgrey 1.37 on Berkeley DB 5.3, see
// ../shared/postgrey-reference.md section 8), so that switching from
// postgrey re-greylists nobody who already passed.
//
// postgrey.db holds "<client net>/<sender>/<recipient>" => "first,last",
// the key lower-cased, the sender already normalized as we normalize it,
// <client net> the network address ("192.0.2.0", IPv6 expanded as
// "2001:db8:0:0:0:0:0:0") or with --lookup-by-host the address with its
// mask ("192.0.2.7/32", "2001:db8:0:0:0:0:0:1/128").
// postgrey_clients.db holds "<client address>" => "count,last".
//
// Splitting a triplet key: '/' is legal in both local parts, so the split
// is a rule, not a certainty. The client part ends at the first '/' (no
// address contains one); when the next part is exactly the host mask of
// the address family ("32" for IPv4, "128" for IPv6) and a '/' still
// follows, it is postgrey's --lookup-by-host mask. The recipient is what
// follows the LAST '/', the sender what lies between. Ambiguous, and then
// imported under a wrong key (which never matches and simply expires): a
// recipient whose local part contains '/', and a subnet-mode key whose
// sender is literally "32" or "128" (a sender without '@', so never a real
// one) followed by a recipient containing '/'.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/clock.h"
#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "greylist/status.h"
#include "greylist/store.h"

namespace greylist {

struct PostgreyTripletKey {
  std::string client_address;  // the network (or host) address, as postgrey wrote it
  std::string sender;
  std::string recipient;
  bool host_mask = false;  // written by postgrey --lookup-by-host
};

// nullopt when the key is not "<address>[/mask]/<sender>/<recipient>" with
// a parsable address and a non-empty recipient (e.g. a --privacy hash).
std::optional<PostgreyTripletKey> parse_postgrey_triplet_key(std::string_view key);

struct PostgreyTimes {
  EpochSeconds first = 0;
  EpochSeconds last = 0;
};
// "first,last" (postgrey may append ",host"); nullopt unless both are whole
// non-negative numbers.
std::optional<PostgreyTimes> parse_postgrey_triplet_value(std::string_view value);

struct PostgreyClient {
  std::uint32_t count = 0;
  EpochSeconds last = 0;
};
// "count,last"; nullopt unless both are whole non-negative numbers.
std::optional<PostgreyClient> parse_postgrey_client_value(std::string_view value);

// What a postgrey database directory holds, read without changing it.
struct PostgreyDatabase {
  std::vector<StoreEntry> triplets;  // postgrey.db
  std::vector<StoreEntry> clients;   // postgrey_clients.db (absent: empty)
  bool has_clients_file = false;
  // Read through a recovered private copy of postgrey's environment (so
  // changes still only in its log count too); false: the .db files were
  // read directly because the copy could not be recovered.
  bool recovered = false;
  std::vector<std::string> warnings;
};

// Reads `dir` (postgrey's --dbdir): refuses while postgrey runs there (its
// postgrey.lock is locked), copies the database and log files into a
// private temporary directory, recovers that copy and reads both tables.
// postgrey's own files are only read. Errors name the file and the reason.
Result<PostgreyDatabase> read_postgrey_database(const std::string& dir);

struct ImportReport {
  std::uint64_t triplets_read = 0;
  std::uint64_t triplets_imported = 0;  // new entries written (or, dry run, to write)
  std::uint64_t triplets_passed = 0;    // of those, passed
  std::uint64_t triplets_merged = 0;    // combined with an entry already in the store
  std::uint64_t triplets_expired = 0;   // past their lifetime under our settings: left out
  std::map<std::string, std::uint64_t> triplets_skipped;  // reason => count
  std::uint64_t clients_read = 0;
  std::uint64_t client_networks = 0;  // client entries written (one per network)
  std::uint64_t clients_merged = 0;
  std::uint64_t clients_expired = 0;
  std::map<std::string, std::uint64_t> clients_skipped;
};

// Converts and writes. Triplets: our key for (network under our subnet
// rule, sender, recipient) as the daemon computes it (also --privacy);
// first/last seen as postgrey recorded them; passed when last - first >=
// postgrey_delay (postgrey's own rule). Several postgrey keys that map to
// one of ours (--lookup-by-host there, subnets here) are combined: earliest
// first, latest last, passed if any passed. Clients: postgrey counts per
// address; the counts of the addresses of one network are added up, with
// the latest last-seen. An entry already in the store is combined the same
// way (counts: the larger), so importing twice changes nothing. Entries
// that would already be expired under our --max-age / --retry-window are
// left out.
class PostgreyImport {
 public:
  // `keys` (its config and key functions) and `store` must outlive this.
  PostgreyImport(const Greylister& keys, Store& store, std::int64_t postgrey_delay,
                 EpochSeconds now);

  // dry_run: computes the report, writes nothing. Stops with
  // Unavailable("interrupted") once `interrupted` is set.
  Result<ImportReport> run(const PostgreyDatabase& database, bool dry_run,
                           const std::atomic<bool>& interrupted) const;

 private:
  using Triplets = std::map<std::string, TripletRecord>;  // our key => record
  using Clients = std::map<std::string, ClientRecord>;

  // postgrey's entries as ours, combined per key of ours; what is left out
  // is counted in `report`.
  Triplets convert_triplets(const PostgreyDatabase& database, ImportReport& report) const;
  Clients convert_clients(const PostgreyDatabase& database, ImportReport& report) const;
  // Each merged into the store (counted only, dry_run).
  Status write_triplets(const Triplets& triplets, bool dry_run,
                        const std::atomic<bool>& interrupted, ImportReport& report) const;
  Status write_clients(const Clients& clients, bool dry_run, const std::atomic<bool>& interrupted,
                       ImportReport& report) const;

  const Greylister& keys_;
  Store& store_;
  std::int64_t postgrey_delay_;
  EpochSeconds now_;
};

}  // namespace greylist
