// Fuzzes the store dump reader (tools/store_dump.h): `greylistctl import`
// reads a file an admin copied from another host, so any bytes may come.
// The input goes through read_dump() whole, and each of its lines through
// parse_dump_entry(), and as one field through dump_decode().
//
// Invariants:
//  - read_dump() returns (no exception, no crash); a report counts at
//    least the problems it lists, lists at most max_problems of them, and
//    with no problem it has handed every entry it counted to on_entry;
//  - an entry handed to on_entry (or parsed from a line) writes back with
//    dump_entry_line() to a line that parses to the same entry: what import
//    accepts, export can write;
//  - dump_encode() output is printable ASCII without spaces, and
//    dump_decode(dump_encode(x)) == x for every non-empty x;
//  - a dump written from the accepted entries (header, lines, end) reads
//    back with no problem and the same entries.
#include <fuzzer/FuzzedDataProvider.h>

#include <sstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "tools/store_dump.h"

namespace {

using namespace greylist;

bool same(const DumpEntry& a, const DumpEntry& b) {
  return a.table == b.table && a.kind == b.kind && a.hashed == b.hashed && a.key == b.key &&
         a.value == b.value && a.expires_at == b.expires_at;
}

// The entry written back as a line parses to itself.
void check_round_trip(const DumpEntry& entry) {
  const auto line = dump_entry_line(entry.table, entry.key, entry.value, entry.expires_at);
  FUZZ_CHECK(line.has_value());
  const auto again = parse_dump_entry(*line);
  FUZZ_CHECK(again.ok() && same(again.value(), entry));
}

void check_field_codec(std::string_view bytes) {
  const std::string encoded = dump_encode(bytes);
  for (const char c : encoded) FUZZ_CHECK(c >= '!' && c <= '~');
  const auto decoded = dump_decode(encoded);
  if (bytes.empty()) {
    FUZZ_CHECK(!decoded.has_value());
  } else {
    FUZZ_CHECK(decoded.has_value() && *decoded == bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  FuzzedDataProvider provider(data, size);
  const std::size_t max_problems = provider.ConsumeIntegralInRange<std::size_t>(0, 4);

  // The whole input as a dump file.
  std::vector<DumpEntry> accepted;
  std::istringstream in(input);
  const auto read = read_dump(
      in,
      [&](const DumpEntry& entry) {
        accepted.push_back(entry);
        return Status::Ok();
      },
      max_problems);
  FUZZ_CHECK(read.ok());  // an istringstream never goes bad
  const DumpReadReport& report = read.value();
  FUZZ_CHECK(report.problems.size() <= max_problems);
  FUZZ_CHECK(report.problems.size() <= report.problem_count);
  FUZZ_CHECK(accepted.size() <= report.triplets + report.clients);
  if (report.problem_count == 0) FUZZ_CHECK(accepted.size() == report.triplets + report.clients);
  for (const DumpEntry& entry : accepted) check_round_trip(entry);

  // Each line on its own, and as a field.
  std::string_view rest(input);
  for (int lines = 0; !rest.empty() && lines < 64; ++lines) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    if (const auto entry = parse_dump_entry(line); entry.ok()) check_round_trip(entry.value());
    (void)dump_decode(line);
    check_field_codec(line.substr(0, 256));
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }

  // What was accepted, written as a dump, reads back clean and the same.
  std::string written = dump_header("fuzz") + "\n";
  for (const DumpEntry& entry : accepted) {
    written += *dump_entry_line(entry.table, entry.key, entry.value, entry.expires_at) + "\n";
  }
  written += dump_end(accepted.size()) + "\n";
  std::istringstream again_in(written);
  std::vector<DumpEntry> again;
  const auto reread = read_dump(again_in, [&](const DumpEntry& entry) {
    again.push_back(entry);
    return Status::Ok();
  });
  FUZZ_CHECK(reread.ok() && reread.value().problem_count == 0);
  FUZZ_CHECK(again.size() == accepted.size());
  for (std::size_t i = 0; i < again.size(); ++i) FUZZ_CHECK(same(again[i], accepted[i]));
  return 0;
}
