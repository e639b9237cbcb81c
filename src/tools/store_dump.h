// The store dump: every entry of a store as portable text, written by
// `greylistctl export` and read by `greylistctl import` (greylistctl(8)).
//
// Format version 1, one record per line, fields separated by one space:
//   greylist-milter-dump 1[ <informational text>]      first line
//   <table> <key> <value> <expires>                     one per entry
//   end <number of entries>                             last line
// <table> is "triplets" or "clients"; <key> and <value> are the stored bytes
// (record_codec.h), every byte outside '!'..'~' and '%' itself written as
// %XX (so keys stay readable: addresses and prefixes as they are); <expires> is when the
// exporting store would forget the entry, in epoch seconds (informational:
// an import recomputes it under its own settings). The "end" line makes a
// truncated file detectable.
//
// Reading is for untrusted input: every line is bounded (kMaxDumpLineBytes),
// every key must be one record_codec.h writes and every value must decode
// as the record its key names; problems are reported as "line N: reason".
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/clock.h"
#include "greylist/status.h"
#include "greylist/store.h"
#include "tools/stored_key.h"

namespace greylist {

inline constexpr int kDumpVersion = 1;
inline constexpr std::string_view kDumpMagic = "greylist-milter-dump";
// Longer keys and values are not stored by the daemon; export skips them.
inline constexpr std::size_t kMaxDumpKeyBytes = 16 * 1024;
inline constexpr std::size_t kMaxDumpValueBytes = 4 * 1024;
inline constexpr std::size_t kMaxDumpLineBytes = 3 * (kMaxDumpKeyBytes + kMaxDumpValueBytes) + 64;

struct DumpEntry {
  Table table = Table::kTriplets;
  StoredKey::Kind kind = StoredKey::Kind::kTriplet;
  bool hashed = false;  // a --privacy key
  std::string key;
  std::string value;
  EpochSeconds expires_at = 0;
};

// Bytes as a dump field: '!'..'~' as they are, '%' and every other byte %XX.
std::string dump_encode(std::string_view bytes);
// The bytes of a dump field; nullopt for an empty field, a raw byte outside
// '!'..'~', or a '%' not followed by two hex digits.
std::optional<std::string> dump_decode(std::string_view field);

// The first line: magic, version, then `info` (printable, no newline).
std::string dump_header(std::string_view info);
// An entry line; nullopt when the entry cannot be dumped (the key is none
// record_codec.h writes, is not of `table`, the value does not decode as
// its record, or either is longer than the limits above).
std::optional<std::string> dump_entry_line(Table table, std::string_view key,
                                           std::string_view value, EpochSeconds expires_at);
std::string dump_end(std::uint64_t entries);

// Checks what one entry line holds (without its newline): the entry, or
// the reason it is not one.
Result<DumpEntry> parse_dump_entry(std::string_view line);

struct DumpReadReport {
  std::uint64_t triplets = 0;
  std::uint64_t clients = 0;
  // Problems as "line N: reason", at most `max_problems` of them; counted
  // in `problem_count` beyond that.
  std::vector<std::string> problems;
  std::uint64_t problem_count = 0;
};

// Reads a whole dump from `in`, calling `on_entry` for every valid entry in
// file order. A problem in a line is recorded and reading goes on with the
// next line (so one pass lists them), except that `on_entry` failing stops
// the read and is returned. After a problem `on_entry` is no longer called:
// a caller writing entries can rely on writing only while the file is
// valid so far. Checks the header, the "end" line (count, nothing after it)
// and that the input does not end before it.
Result<DumpReadReport> read_dump(std::istream& in,
                                 const std::function<Status(const DumpEntry&)>& on_entry,
                                 std::size_t max_problems = 10);

}  // namespace greylist
