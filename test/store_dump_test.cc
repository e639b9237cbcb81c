// The store dump format (tools/store_dump.h) and the merge of imported
// entries (tools/entry_merge.h), in-process: encoding, every kind of bad
// line with its line number, bounded reading, merge rules.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "greylist/record_codec.h"
#include "tools/entry_merge.h"
#include "tools/store_dump.h"

using namespace greylist;

namespace {

const std::string kTripletKey = encode_triplet_key("192.0.2.0", "a b@x.test", "c%d@y.test");
const std::string kTripletValue = encode_triplet({1000, 2000, true, 42});

std::string entry_line(Table table, const std::string& key, const std::string& value,
                       EpochSeconds expires = 5000) {
  const auto line = dump_entry_line(table, key, value, expires);
  REQUIRE(line.has_value());
  return *line;
}

std::string valid_dump() {
  return dump_header("store=test") + "\n" +
         entry_line(Table::kTriplets, kTripletKey, kTripletValue) + "\n" +
         entry_line(Table::kClients, encode_client_key("192.0.2.0"), encode_client({3, 1500})) +
         "\n" + dump_end(2) + "\n";
}

struct Read {
  DumpReadReport report;
  std::vector<DumpEntry> entries;
};

Read read_text(const std::string& text) {
  std::istringstream in(text);
  Read read;
  auto report = read_dump(in, [&](const DumpEntry& entry) {
    read.entries.push_back(entry);
    return Status::Ok();
  });
  REQUIRE(report.ok());
  read.report = report.value();
  return read;
}

// The only problem `text` has.
std::string problem_of(const std::string& text) {
  const Read read = read_text(text);
  REQUIRE(read.report.problems.size() == 1);
  return read.report.problems.front();
}

}  // namespace

TEST_SUITE("store_dump") {

TEST_CASE("fields: printable bytes stay readable, every other byte and '%' become %XX") {
  const std::string bytes = std::string("c1:192.0.2.0 %\x01\xff", 16);
  const std::string field = dump_encode(bytes);
  CHECK(field == "c1:192.0.2.0%20%25%01%FF");
  CHECK(dump_decode(field) == bytes);
  CHECK(dump_decode("%4a%4A") == "JJ");
  CHECK_FALSE(dump_decode("").has_value());
  CHECK_FALSE(dump_decode("abc%").has_value());
  CHECK_FALSE(dump_decode("abc%4").has_value());
  CHECK_FALSE(dump_decode("abc%4g").has_value());
  CHECK_FALSE(dump_decode("a\tb").has_value());
  CHECK_FALSE(dump_decode(std::string("a\0b", 3)).has_value());
  CHECK_FALSE(dump_decode("a\x80").has_value());
}

TEST_CASE("a valid dump gives every entry with its table, key, value and expiry") {
  const Read read = read_text(valid_dump());
  CHECK(read.report.problem_count == 0);
  CHECK(read.report.triplets == 1);
  CHECK(read.report.clients == 1);
  REQUIRE(read.entries.size() == 2);
  CHECK(read.entries[0].table == Table::kTriplets);
  CHECK(read.entries[0].key == kTripletKey);
  CHECK(read.entries[0].value == kTripletValue);
  CHECK(read.entries[0].expires_at == 5000);
  CHECK(read.entries[1].table == Table::kClients);
  CHECK(read.entries[1].kind == StoredKey::Kind::kClient);
  // An empty dump is valid too, and a last line without its newline.
  CHECK(read_text(dump_header("") + "\n" + dump_end(0)).report.problem_count == 0);
}

TEST_CASE("entries that cannot be dumped are refused by the writer") {
  CHECK_FALSE(dump_entry_line(Table::kClients, kTripletKey, kTripletValue, 1).has_value());
  CHECK_FALSE(dump_entry_line(Table::kTriplets, "junk", kTripletValue, 1).has_value());
  CHECK_FALSE(dump_entry_line(Table::kTriplets, kTripletKey, "junk", 1).has_value());
  CHECK_FALSE(dump_entry_line(Table::kTriplets, kTripletKey, kTripletValue, -1).has_value());
  const std::string long_key = encode_triplet_key("192.0.2.0", std::string(kMaxDumpKeyBytes, 'a'), "b");
  CHECK_FALSE(dump_entry_line(Table::kTriplets, long_key, kTripletValue, 1).has_value());
}

TEST_CASE("bad lines are reported with their line number and reason") {
  const std::string header = dump_header("") + "\n";
  const std::string good = entry_line(Table::kTriplets, kTripletKey, kTripletValue) + "\n";
  CHECK(problem_of("") == "line 1: empty input, expected 'greylist-milter-dump 1'");
  CHECK(problem_of("hello\n").rfind("line 1: not a greylist-milter dump", 0) == 0);
  CHECK(problem_of("greylist-milter-dump 2 later\nend 0\n").rfind("line 1: dump format version '2'", 0) == 0);
  CHECK(problem_of(header + good) == "line 3: the input ends before its 'end' line (a truncated dump?)");
  CHECK(problem_of(header + good + "end 2\n") == "line 3: 'end' says 2 entries, the dump holds 1");
  CHECK(problem_of(header + good + "end\n") == "line 3: 'end' must be followed by the number of entries");
  CHECK(problem_of(header + good + "end 1\nmore\n") == "line 4: text after the 'end' line");
  CHECK(problem_of(header + "triplets a b\nend 1\n") ==
        "line 2: 3 fields, expected 4 (table, key, value, expiry)");
  CHECK(problem_of(header + "triplets a b c d\nend 1\n") == "line 2: more than 4 fields");
  CHECK(problem_of(header + "triplets  a b\nend 1\n") == "line 2: key is not a valid %-encoded field");
  CHECK(problem_of(header + "domains a b 1\nend 1\n") ==
        "line 2: unknown table (expected triplets or clients)");
  CHECK(problem_of(header + "triplets junk 01 1\nend 1\n") ==
        "line 2: key is not a greylist-milter key");
  CHECK(problem_of(header + "clients " + dump_encode(kTripletKey) + " " +
                   dump_encode(kTripletValue) + " 1\nend 1\n") ==
        "line 2: a triplet key in table clients");
  CHECK(problem_of(header + "triplets " + dump_encode(kTripletKey) + " %01%02 1\nend 1\n") ==
        "line 2: value is not a triplet record");
  CHECK(problem_of(header + "triplets " + dump_encode(kTripletKey) + " " +
                   dump_encode(kTripletValue) + " -5\nend 1\n") ==
        "line 2: expiry is not a time in epoch seconds");
  CHECK(problem_of(header + "triplets " + dump_encode(kTripletKey) + " " +
                   dump_encode(kTripletValue) + " 99999999999999999999999\nend 1\n") ==
        "line 2: expiry is not a time in epoch seconds");
  // Windows line ends: the carriage return is not part of any field.
  CHECK(problem_of(header + entry_line(Table::kTriplets, kTripletKey, kTripletValue) +
                   "\r\nend 1\n") == "line 2: expiry is not a time in epoch seconds");
}

TEST_CASE("several problems are all listed (up to the limit), and entries stop at the first") {
  std::string text = dump_header("") + "\n" +
                     entry_line(Table::kTriplets, kTripletKey, kTripletValue) + "\n";
  for (int i = 0; i < 15; ++i) text += "garbage\n";
  text += entry_line(Table::kClients, encode_client_key("192.0.2.0"), encode_client({3, 1500})) +
          "\n" + dump_end(17) + "\n";
  const Read read = read_text(text);
  CHECK(read.report.problem_count == 15);
  CHECK(read.report.problems.size() == 10);
  CHECK(read.report.problems.front() == "line 3: 1 fields, expected 4 (table, key, value, expiry)");
  CHECK(read.entries.size() == 1);  // the one before the first problem
}

TEST_CASE("a line longer than the limit is reported, reading goes on after it") {
  std::string text = dump_header("") + "\n" + "triplets " + std::string(kMaxDumpLineBytes, 'x') +
                     "\n" + entry_line(Table::kTriplets, kTripletKey, kTripletValue) + "\nend 2\n";
  const Read read = read_text(text);
  REQUIRE(read.report.problems.size() == 1);
  CHECK(read.report.problems[0] ==
        "line 2: longer than " + std::to_string(kMaxDumpLineBytes) + " bytes");
  // Binary garbage, NUL bytes included, never crashes and is refused.
  std::string binary = dump_header("") + "\n";
  for (int i = 0; i < 4096; ++i) binary += static_cast<char>((i * 37) & 0xff);
  CHECK(read_text(binary).report.problem_count > 0);
}

TEST_CASE("a failing consumer stops the read with its status") {
  std::istringstream in(valid_dump());
  int calls = 0;
  auto report = read_dump(in, [&](const DumpEntry&) {
    ++calls;
    return Status::Unavailable("store down");
  });
  CHECK_FALSE(report.ok());
  CHECK(report.status().message() == "store down");
  CHECK(calls == 1);
}

TEST_CASE("merge: triplets earliest first, latest last, passed if either; first network kept") {
  const auto merged = decode_triplet(merge_entry(StoredKey::Kind::kTriplet,
                                                 encode_triplet({1000, 1500, false, 7}),
                                                 encode_triplet({900, 1200, true, 9})));
  REQUIRE(merged.has_value());
  CHECK(merged->first_seen == 900);
  CHECK(merged->last_seen == 1500);
  CHECK(merged->passed);
  CHECK(merged->first_network == 7);
  const auto adopted = decode_triplet(merge_entry(StoredKey::Kind::kTriplet,
                                                  encode_triplet({1000, 1500, false, 0}),
                                                  encode_triplet({1000, 1500, false, 9})));
  CHECK(adopted->first_network == 9);
}

TEST_CASE("merge: clients the larger count and the latest last-seen") {
  const auto merged = decode_client(merge_entry(StoredKey::Kind::kClient, encode_client({5, 100}),
                                                encode_client({3, 200})));
  REQUIRE(merged.has_value());
  CHECK(merged->deliveries == 5);
  CHECK(merged->last_seen == 200);
}

TEST_CASE("merge: sender domains keep existing senders, add new ones up to the limit") {
  DomainRecord existing{100, {1, 2, 3}};
  DomainRecord imported{300, {3, 4}};
  auto merged = decode_domain(merge_entry(StoredKey::Kind::kDomain, encode_domain(existing),
                                          encode_domain(imported)));
  REQUIRE(merged.has_value());
  CHECK(merged->last_seen == 300);
  CHECK(merged->sender_hashes == std::vector<std::uint64_t>{1, 2, 3, 4});
  DomainRecord full{100, {}};
  for (std::uint64_t i = 1; i <= DomainRecord::kMaxSenders; ++i) full.sender_hashes.push_back(i);
  merged = decode_domain(merge_entry(StoredKey::Kind::kDomain, encode_domain(full),
                                     encode_domain(DomainRecord{50, {99}})));
  CHECK(merged->sender_hashes.size() == DomainRecord::kMaxSenders);
  CHECK(merged->last_seen == 100);
}

TEST_CASE("merge: greytraps the earlier first hit and the later end of the hold") {
  const std::string merged = merge_entry(StoredKey::Kind::kGreytrap, encode_trap({1000, 5000}),
                                         encode_trap({800, 4000}));
  const auto record = decode_trap(merged);
  REQUIRE(record);
  CHECK(record->trapped_at == 800);
  CHECK(record->hold_until == 5000);
  CHECK(same_record(StoredKey::Kind::kGreytrap, merged, encode_trap({800, 5000})));
  CHECK_FALSE(same_record(StoredKey::Kind::kGreytrap, merged, encode_trap({800, 5001})));
  CHECK(record_decodes(StoredKey::Kind::kGreytrap, merged));
  CHECK_FALSE(record_decodes(StoredKey::Kind::kGreytrap, encode_client({1, 2})));
  // A trap line reads back as a clients entry; in the triplets table it is refused.
  const std::string key = encode_greytrap_key("192.0.2.0");
  const auto line = dump_entry_line(Table::kClients, key, merged, 5000);
  REQUIRE(line);
  const auto entry = parse_dump_entry(*line);
  REQUIRE(entry.ok());
  CHECK(entry.value().kind == StoredKey::Kind::kGreytrap);
  CHECK_FALSE(dump_entry_line(Table::kTriplets, key, merged, 5000));
}

TEST_CASE("merge is idempotent, and a damaged existing value is replaced") {
  const std::string existing = encode_triplet({1000, 1500, false, 7});
  const std::string imported = encode_triplet({900, 1200, true, 9});
  const std::string once = merge_entry(StoredKey::Kind::kTriplet, existing, imported);
  CHECK(same_record(StoredKey::Kind::kTriplet, merge_entry(StoredKey::Kind::kTriplet, once, imported), once));
  CHECK(merge_entry(StoredKey::Kind::kTriplet, "damaged", imported) == imported);
  CHECK_FALSE(same_record(StoredKey::Kind::kTriplet, "damaged", "damaged"));
  CHECK(record_decodes(StoredKey::Kind::kClient, encode_client({1, 2})));
  CHECK_FALSE(record_decodes(StoredKey::Kind::kClient, kTripletValue));
}

}  // TEST_SUITE
