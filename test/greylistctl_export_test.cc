// greylistctl export and import, the built program: Berkeley DB -> dump ->
// Redis (a redis-server on loopback) -> dump -> Berkeley DB with the same
// entries, merging into existing entries, importing twice, standard input
// and pipes, damaged and truncated dumps (nothing written), exit statuses.
#include <sys/wait.h>

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "greylist/record_codec.h"
#include "store/bdb_store.h"
#include "support/child_process.h"
#include "support/file_text.h"
#include "support/redis_server.h"
#include "support/temp_dir.h"

using namespace greylist::testing;
using namespace std::chrono_literals;
using greylist::Table;

namespace {

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Run run(const std::vector<std::string>& argv) {
  Run result;
  const int status = run_program(argv, result.output, 30s);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// greylistctl with no config file (the defaults) and `args`.
Run ctl(std::vector<std::string> args) {
  args.insert(args.begin(), {GREYLISTCTL_BINARY, "--config", "/dev/null"});
  return run(args);
}

Run shell(const std::string& command) { return run({"/bin/sh", "-c", command}); }

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// The lines of a dump without its header (which names the store and time).
std::string entries_of(const std::string& dump) {
  const std::size_t newline = dump.find('\n');
  return newline == std::string::npos ? "" : dump.substr(newline + 1);
}

using Entries = std::map<std::pair<Table, std::string>, std::string>;

Entries bdb_entries(const std::string& dir) {
  greylist::BdbOptions options;
  options.directory = dir;
  options.cache_bytes = 1024 * 1024;
  auto store = greylist::BdbStore::open(options);
  REQUIRE(store.ok());
  Entries out;
  for (const Table table : {Table::kTriplets, Table::kClients}) {
    auto entries = store.value()->scan(table, "", 1000);
    REQUIRE(entries.ok());
    for (const auto& entry : entries.value()) out[{table, entry.key}] = entry.value;
  }
  return out;
}

void fill_bdb(const std::string& dir, const Entries& entries) {
  std::filesystem::create_directory(dir);
  greylist::BdbOptions options;
  options.directory = dir;
  options.cache_bytes = 1024 * 1024;
  auto store = greylist::BdbStore::open(options);
  REQUIRE(store.ok());
  for (const auto& [where, value] : entries) {
    REQUIRE(store.value()->put(where.first, where.second, value, 0).ok());
  }
}

const greylist::EpochSeconds kNow = std::time(nullptr);

// What a site's database holds: live entries of every kind (one with bytes
// a dump must escape), one expired triplet, one damaged entry.
Entries site_entries() {
  using namespace greylist;
  Entries entries;
  entries[{Table::kTriplets, encode_triplet_key("192.0.2.0", "a@b.test", "c@d.test")}] =
      encode_triplet({kNow - 600, kNow - 300, false, 11});
  entries[{Table::kTriplets, encode_triplet_key("192.0.2.0", "e@b.test", "c@d.test")}] =
      encode_triplet({kNow - 86400, kNow - 3600, true, 12});
  entries[{Table::kTriplets, encode_triplet_key("2001:db8::", "<>", "x y%@d.test")}] =
      encode_triplet({kNow - 60, kNow - 60, false, 13});
  entries[{Table::kTriplets, encode_triplet_key(pool_client("example.net"), "f@b.test", "c@d.test")}] =
      encode_triplet({kNow - 7200, kNow - 3000, true, 14});
  entries[{Table::kClients, encode_client_key("192.0.2.0")}] = encode_client({4, kNow - 100});
  entries[{Table::kClients, encode_domain_key("192.0.2.0", "b.test")}] =
      encode_domain({kNow - 100, {1, 2, 3}});
  // Waiting for 3 days (retry window 2 days): expired, left out.
  entries[{Table::kTriplets, encode_triplet_key("192.0.2.0", "old@b.test", "c@d.test")}] =
      encode_triplet({kNow - 3 * 86400, kNow - 3 * 86400, false, 15});
  entries[{Table::kClients, "c1:192.0.2.9"}] = "damaged";
  // A network held by a greytrap for another hour, and one whose hold is over.
  entries[{Table::kClients, encode_greytrap_key("198.51.100.0")}] =
      encode_trap({kNow - 600, kNow + 3600});
  entries[{Table::kClients, encode_greytrap_key("198.51.101.0")}] =
      encode_trap({kNow - 7200, kNow - 10});
  return entries;
}

// site_entries() without the expired and the damaged one.
Entries live_site_entries() {
  Entries entries = site_entries();
  entries.erase({Table::kTriplets,
                 greylist::encode_triplet_key("192.0.2.0", "old@b.test", "c@d.test")});
  entries.erase({Table::kClients, "c1:192.0.2.9"});
  entries.erase({Table::kClients, greylist::encode_greytrap_key("198.51.101.0")});
  return entries;
}

struct Dirs {
  TempDir scratch{"greylistctl-export"};
  std::string root = scratch.path();
};

}  // namespace

TEST_SUITE("greylistctl_export") {

TEST_CASE("Berkeley DB -> dump -> Redis -> dump -> Berkeley DB keeps every live entry") {
  Dirs dirs;
  const std::string source = dirs.root + "/source";
  const std::string target = dirs.root + "/target";
  fill_bdb(source, site_entries());
  RedisServer redis;
  const std::vector<std::string> to_redis{"--store", "redis", "--redis", redis.url()};

  const Run exported = ctl({"--dbdir", source, "export", "--output", dirs.root + "/1.dump"});
  CHECK(exported.status == 0);
  CHECK(contains(exported.output, "exported 7 entries (4 triplets, 3 clients) from the bdb store to " +
                                      dirs.root + "/1.dump; left out 2 expired, 1 undecodable\n"));
  const std::string first = read_file(dirs.root + "/1.dump");
  CHECK(first.rfind("greylist-milter-dump 1 store=bdb exported=", 0) == 0);
  // The keys' networks have no prefix length: the header names it.
  CHECK(contains(first.substr(0, first.find('\n') + 1), "Z ipv4cidr=24 ipv6cidr=64\n"));
  CHECK(contains(first, "\nclients c1:192.0.2.0 "));
  CHECK(contains(first, "2001:db8::2:<>11:x%20y%25@d.test "));  // bytes escaped, the rest readable
  CHECK(contains(first, "\nclients g1:198.51.100.0 "));  // the greytrap travels too
  CHECK(first.ends_with("\nend 7\n"));

  std::vector<std::string> import_args{"import"};
  import_args.insert(import_args.end(), to_redis.begin(), to_redis.end());
  import_args.push_back(dirs.root + "/1.dump");
  Run imported = ctl(import_args);
  CHECK(imported.status == 0);
  CHECK(contains(imported.output, "import " + dirs.root +
                                      "/1.dump: 7 entries (4 triplets, 3 clients) into the redis "
                                      "store: wrote 7 new, merged 0 into existing entries, 0 "
                                      "unchanged, left out 0 expired\n"));
  // Every entry has a TTL from its expiry (Redis forgets it by itself).
  RedisClient raw(redis.port());
  REQUIRE(raw.ok());
  const auto ttl = raw.command({"TTL", "greylist:c:" + greylist::encode_client_key("192.0.2.0")});
  REQUIRE(ttl.has_value());
  CHECK(ttl->integer > 34 * 86400);
  CHECK(ttl->integer <= 35 * 86400);
  // A greytrap's TTL is what is left of its hold.
  const auto trap_ttl =
      raw.command({"TTL", "greylist:c:" + greylist::encode_greytrap_key("198.51.100.0")});
  REQUIRE(trap_ttl.has_value());
  CHECK(trap_ttl->integer > 3500);
  CHECK(trap_ttl->integer <= 3600);

  // Twice: nothing changes.
  imported = ctl(import_args);
  CHECK(imported.status == 0);
  CHECK(contains(imported.output, "wrote 0 new, merged 0 into existing entries, 7 unchanged"));

  std::vector<std::string> export_args{"export", "--output", dirs.root + "/2.dump"};
  export_args.insert(export_args.end(), to_redis.begin(), to_redis.end());
  const Run from_redis = ctl(export_args);
  CHECK(from_redis.status == 0);
  CHECK(contains(from_redis.output, "exported 7 entries (4 triplets, 3 clients) from the redis store"));
  const std::string second = read_file(dirs.root + "/2.dump");
  CHECK(second.rfind("greylist-milter-dump 1 store=redis ", 0) == 0);
  CHECK(entries_of(second) == entries_of(first));

  // Into a Berkeley DB directory that does not exist yet (created).
  CHECK(ctl({"--dbdir", target, "import", dirs.root + "/2.dump"}).status == 0);
  CHECK(bdb_entries(target) == live_site_entries());
  const Run back = ctl({"--dbdir", target, "export", "--output", dirs.root + "/3.dump"});
  CHECK(back.status == 0);
  CHECK(entries_of(read_file(dirs.root + "/3.dump")) == entries_of(first));
}

TEST_CASE("import merges into existing entries, as the daemon would want them") {
  using namespace greylist;
  Dirs dirs;
  const std::string source = dirs.root + "/source";
  const std::string target = dirs.root + "/target";
  const std::string triplet = encode_triplet_key("192.0.2.0", "a@b.test", "c@d.test");
  const std::string client = encode_client_key("192.0.2.0");
  fill_bdb(source, {{{Table::kTriplets, triplet}, encode_triplet({kNow - 600, kNow - 300, false, 1})},
                    {{Table::kClients, client}, encode_client({2, kNow - 50})}});
  // The target saw the triplet later but passed it, and counted more deliveries.
  fill_bdb(target, {{{Table::kTriplets, triplet}, encode_triplet({kNow - 400, kNow - 100, true, 2})},
                    {{Table::kClients, client}, encode_client({5, kNow - 500})}});
  REQUIRE(ctl({"--dbdir", source, "export", "-o", dirs.root + "/s.dump"}).status == 0);

  const Run dry = ctl({"--dbdir", target, "import", "--dry-run", dirs.root + "/s.dump"});
  CHECK(dry.status == 0);
  CHECK(contains(dry.output, "would write 0 new, merged 2 into existing entries, 0 unchanged"));
  CHECK(decode_triplet(bdb_entries(target)[{Table::kTriplets, triplet}])->first_seen == kNow - 400);

  const Run merged = ctl({"--dbdir", target, "import", dirs.root + "/s.dump"});
  CHECK(merged.status == 0);
  CHECK(contains(merged.output, "wrote 0 new, merged 2 into existing entries, 0 unchanged"));
  Entries after = bdb_entries(target);
  const auto record = decode_triplet(after[{Table::kTriplets, triplet}]);
  REQUIRE(record.has_value());
  CHECK(record->first_seen == kNow - 600);
  CHECK(record->last_seen == kNow - 100);
  CHECK(record->passed);
  CHECK(record->first_network == 2);
  const auto counts = decode_client(after[{Table::kClients, client}]);
  REQUIRE(counts.has_value());
  CHECK(counts->deliveries == 5);
  CHECK(counts->last_seen == kNow - 50);

  const Run again = ctl({"--dbdir", target, "import", dirs.root + "/s.dump"});
  CHECK(contains(again.output, "wrote 0 new, merged 0 into existing entries, 2 unchanged"));
  CHECK(bdb_entries(target) == after);
}

TEST_CASE("standard input and a pipe from export") {
  Dirs dirs;
  const std::string source = dirs.root + "/source";
  fill_bdb(source, site_entries());
  RedisServer redis;
  const std::string ctl_prefix = std::string(GREYLISTCTL_BINARY) + " --config /dev/null ";
  const Run piped = shell(ctl_prefix + "--dbdir " + source + " export | " + ctl_prefix +
                          "import --store redis --redis " + redis.url() + " -");
  CHECK(piped.status == 0);
  CHECK(contains(piped.output, "exported 7 entries (4 triplets, 3 clients) from the bdb store to "
                               "standard output"));
  CHECK(contains(piped.output, "import standard input: 7 entries"));
  CHECK(contains(piped.output, "wrote 7 new"));
  RedisClient raw(redis.port());
  CHECK(raw.command({"ZCARD", "greylist:i:t"})->integer == 4);
  CHECK(raw.command({"ZCARD", "greylist:i:c"})->integer == 3);

  const Run redirected = shell(ctl_prefix + "--dbdir " + dirs.root + "/other import - < /dev/null");
  CHECK(redirected.status == 1);
  CHECK(contains(redirected.output, "standard input: line 1: empty input"));
}

TEST_CASE("damaged, truncated and foreign dumps: line numbers, status 1, nothing written") {
  Dirs dirs;
  const std::string source = dirs.root + "/source";
  const std::string target = dirs.root + "/target";
  fill_bdb(source, site_entries());
  fill_bdb(target, {});
  REQUIRE(ctl({"--dbdir", source, "export", "-o", dirs.root + "/good.dump"}).status == 0);
  const std::string good = read_file(dirs.root + "/good.dump");
  std::vector<std::string> lines;
  std::istringstream in(good);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  REQUIRE(lines.size() == 9);

  struct Case {
    std::string name;
    std::string text;
    std::string problem;
  };
  std::string damaged = good;
  damaged.replace(damaged.find(lines[3]), lines[3].size(), "triplets t1:junk 01 5");
  const std::vector<Case> cases = {
      {"truncated", good.substr(0, good.size() - 6),
       "line 9: the input ends before its 'end' line (a truncated dump?)"},
      {"cut in a line", good.substr(0, good.find(lines[4]) + 10), "line 5: 2 fields"},
      {"damaged line 4", damaged, "line 4: key is not a greylist-milter key"},
      {"binary", std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10), "line 1: not a greylist-milter dump"},
      {"a newer format", "greylist-milter-dump 2\nend 0\n", "line 1: dump format version '2'"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    write_file(dirs.root + "/bad.dump", c.text);
    const Run bad = ctl({"--dbdir", target, "import", dirs.root + "/bad.dump"});
    CHECK(bad.status == 1);
    CHECK(contains(bad.output, dirs.root + "/bad.dump: " + c.problem));
    CHECK(contains(bad.output, "is not a valid dump: nothing was imported"));
    CHECK(bdb_entries(target).empty());
  }
  const Run missing = ctl({"--dbdir", target, "import", dirs.root + "/none.dump"});
  CHECK(missing.status == 1);
  CHECK(contains(missing.output, "none.dump: No such file or directory"));
  // An export that cannot write its file fails before touching anything.
  const Run unwritable = ctl({"--dbdir", source, "export", "-o", dirs.root + "/no/such/dir"});
  CHECK(unwritable.status == 1);
}

TEST_CASE("keys hashed by --privacy into a store without it: imported, with a warning") {
  using namespace greylist;
  Dirs dirs;
  const std::string source = dirs.root + "/source";
  const std::string target = dirs.root + "/target";
  const std::string hashed_key = "t1h:" + std::string(64, 'a');
  fill_bdb(source, {{{Table::kTriplets, hashed_key}, encode_triplet({kNow - 60, kNow - 60, true, 1})}});
  REQUIRE(ctl({"--dbdir", source, "export", "-o", dirs.root + "/h.dump"}).status == 0);
  const Run imported = ctl({"--dbdir", target, "import", dirs.root + "/h.dump"});
  CHECK(imported.status == 0);
  CHECK(contains(imported.output, "warning: 1 entries have --privacy keys but --privacy is off "
                                  "here: the daemon never looks them up"));
  CHECK(bdb_entries(target).count({Table::kTriplets, hashed_key}) == 1);
}

TEST_CASE("bad arguments: status 2 and the usage line") {
  const std::vector<std::vector<std::string>> bad = {
      {"export", "--bogus"},
      {"export", "extra"},
      {"export", "--store", "mongodb"},
      {"export", "--store", "redis", "--redis", "http://example.org/"},
      {"import"},
      {"import", "a.dump", "b.dump"},
      {"import", "--store", "redis", "--redis-timeout", "0", "a.dump"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const auto& a : args) joined += " '" + a + "'";
    CAPTURE(joined);
    const Run result = ctl(args);
    CHECK(result.status == 2);
    CHECK(contains(result.output, "usage: greylistctl [--dbdir DIR] [--config FILE] " + args[0]));
  }
  const Run help = ctl({"--help"});
  CHECK(contains(help.output, "  export "));
  CHECK(contains(help.output, "  import "));
  CHECK(ctl({"import", "--help"}).status == 0);
}

}  // TEST_SUITE
