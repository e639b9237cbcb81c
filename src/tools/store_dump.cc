#include "tools/store_dump.h"

#include <charconv>
#include <istream>
#include <limits>

#include "greylist/record_codec.h"
#include "tools/entry_merge.h"

namespace greylist {
namespace {

// The latest time a record may hold (record_codec.cc refuses later ones).
constexpr EpochSeconds kMaxExpiry = 253'402'300'799;

bool is_plain(unsigned char c) { return c >= '!' && c <= '~' && c != '%'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

const char* table_name(Table table) { return table == Table::kTriplets ? "triplets" : "clients"; }

bool kind_fits_table(StoredKey::Kind kind, Table table) {
  return (kind == StoredKey::Kind::kTriplet) == (table == Table::kTriplets);
}

const char* kind_name(StoredKey::Kind kind) {
  switch (kind) {
    case StoredKey::Kind::kTriplet: return "triplet";
    case StoredKey::Kind::kClient: return "client";
    case StoredKey::Kind::kDomain: return "sender domain";
    case StoredKey::Kind::kGreytrap: return "greytrap";
  }
  return "?";
}

std::optional<std::uint64_t> whole_number(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// What one getline into a bounded buffer gave.
enum class LineRead { kLine, kTooLong, kEndOfInput };

LineRead read_line(std::istream& in, std::vector<char>& buffer, std::string_view& line) {
  in.getline(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  const auto extracted = static_cast<std::size_t>(in.gcount());
  if (in.fail() && !in.eof() && !in.bad()) {
    // The buffer filled before a newline: skip the rest of this line.
    in.clear();
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    return LineRead::kTooLong;
  }
  if (extracted == 0 && in.eof()) return LineRead::kEndOfInput;
  const bool had_newline = !in.eof();
  line = std::string_view(buffer.data(), had_newline ? extracted - 1 : extracted);
  if (in.eof()) in.clear(std::ios::eofbit);  // a last line without newline still counts
  return LineRead::kLine;
}

}  // namespace

std::string dump_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (is_plain(byte)) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

std::optional<std::string> dump_decode(std::string_view field) {
  if (field.empty()) return std::nullopt;
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto byte = static_cast<unsigned char>(field[i]);
    if (byte == '%') {
      if (i + 2 >= field.size()) return std::nullopt;
      const int high = hex_digit(field[i + 1]);
      const int low = hex_digit(field[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (is_plain(byte)) {
      out += field[i];
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string dump_header(std::string_view info) {
  std::string line = std::string(kDumpMagic) + " " + std::to_string(kDumpVersion);
  if (!info.empty()) line += " " + std::string(info);
  return line;
}

std::optional<std::string> dump_entry_line(Table table, std::string_view key,
                                           std::string_view value, EpochSeconds expires_at) {
  if (key.size() > kMaxDumpKeyBytes || value.size() > kMaxDumpValueBytes) return std::nullopt;
  if (expires_at < 0 || expires_at > kMaxExpiry) return std::nullopt;
  const auto parsed = StoredKey::parse(key);
  if (!parsed || !kind_fits_table(parsed->kind, table) || !record_decodes(parsed->kind, value)) {
    return std::nullopt;
  }
  return std::string(table_name(table)) + " " + dump_encode(key) + " " + dump_encode(value) + " " +
         std::to_string(expires_at);
}

std::string dump_end(std::uint64_t entries) { return "end " + std::to_string(entries); }

Result<DumpEntry> parse_dump_entry(std::string_view line) {
  std::string_view fields[4];
  std::size_t count = 0;
  for (std::string_view rest = line;;) {
    const std::size_t space = rest.find(' ');
    if (count == 4) return Status::InvalidArgument("more than 4 fields");
    fields[count++] = rest.substr(0, space);
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  if (count != 4) {
    return Status::InvalidArgument(std::to_string(count) +
                                   " fields, expected 4 (table, key, value, expiry)");
  }
  DumpEntry entry;
  if (fields[0] == "triplets") {
    entry.table = Table::kTriplets;
  } else if (fields[0] == "clients") {
    entry.table = Table::kClients;
  } else {
    return Status::InvalidArgument("unknown table (expected triplets or clients)");
  }
  if (fields[1].size() > 3 * kMaxDumpKeyBytes) return Status::InvalidArgument("key too long");
  auto key = dump_decode(fields[1]);
  if (!key) return Status::InvalidArgument("key is not a valid %-encoded field");
  if (key->size() > kMaxDumpKeyBytes) return Status::InvalidArgument("key too long");
  const auto parsed = StoredKey::parse(*key);
  if (!parsed) return Status::InvalidArgument("key is not a greylist-milter key");
  if (!kind_fits_table(parsed->kind, entry.table)) {
    return Status::InvalidArgument(std::string("a ") + kind_name(parsed->kind) +
                                   " key in table " + table_name(entry.table));
  }
  auto value = dump_decode(fields[2]);
  if (!value) return Status::InvalidArgument("value is not a valid %-encoded field");
  if (value->size() > kMaxDumpValueBytes || !record_decodes(parsed->kind, *value)) {
    return Status::InvalidArgument(std::string("value is not a ") + kind_name(parsed->kind) +
                                   " record");
  }
  const auto expires = whole_number(fields[3]);
  if (!expires || *expires > static_cast<std::uint64_t>(kMaxExpiry)) {
    return Status::InvalidArgument("expiry is not a time in epoch seconds");
  }
  entry.kind = parsed->kind;
  entry.hashed = parsed->hashed;
  entry.key = std::move(*key);
  entry.value = std::move(*value);
  entry.expires_at = static_cast<EpochSeconds>(*expires);
  return entry;
}

namespace {

// What is wrong with the first line, "greylist-milter-dump VERSION[ info]",
// if anything.
std::optional<std::string> header_problem(std::string_view line,
                                          const std::string& expected_header) {
  if (!line.starts_with(std::string(kDumpMagic) + " ")) {
    return "not a greylist-milter dump (it starts with '" + expected_header + "')";
  }
  std::string_view version = line.substr(kDumpMagic.size() + 1);
  version = version.substr(0, version.find(' '));
  const auto number = whole_number(version);
  if (!number || *number != static_cast<std::uint64_t>(kDumpVersion)) {
    return "dump format version '" + dump_encode(version.substr(0, 20)) +
           "': this greylistctl reads version " + std::to_string(kDumpVersion);
  }
  return std::nullopt;
}

// What is wrong with an "end N" line after `entry_lines` entries, if anything.
std::optional<std::string> end_problem(std::string_view line, std::uint64_t entry_lines) {
  const auto count = line.starts_with("end ") ? whole_number(line.substr(4)) : std::nullopt;
  if (!count) return "'end' must be followed by the number of entries";
  if (*count != entry_lines) {
    return "'end' says " + std::to_string(*count) + " entries, the dump holds " +
           std::to_string(entry_lines);
  }
  return std::nullopt;
}

// Counts a problem; keeps its text while fewer than `max_problems` are kept.
void add_problem(DumpReadReport& report, std::size_t max_problems, std::uint64_t line_number,
                 const std::string& reason) {
  ++report.problem_count;
  if (report.problems.size() < max_problems) {
    report.problems.push_back("line " + std::to_string(line_number) + ": " + reason);
  }
}

}  // namespace

Result<DumpReadReport> read_dump(std::istream& in,
                                 const std::function<Status(const DumpEntry&)>& on_entry,
                                 std::size_t max_problems) {
  DumpReadReport report;
  const auto problem = [&](std::uint64_t line_number, const std::string& reason) {
    add_problem(report, max_problems, line_number, reason);
  };
  const std::string expected_header = dump_header("");
  std::vector<char> buffer(kMaxDumpLineBytes + 1);
  std::uint64_t line_number = 0;
  std::uint64_t entry_lines = 0;
  bool ended = false;
  for (;;) {
    std::string_view line;
    const LineRead read = read_line(in, buffer, line);
    if (in.bad()) return Status::IoError("cannot read the input");
    if (read == LineRead::kEndOfInput) {
      if (line_number == 0) {
        problem(1, "empty input, expected '" + expected_header + "'");
      } else if (!ended) {
        problem(line_number + 1, "the input ends before its 'end' line (a truncated dump?)");
      }
      return report;
    }
    ++line_number;
    if (read == LineRead::kTooLong) {
      problem(line_number, "longer than " + std::to_string(kMaxDumpLineBytes) + " bytes");
      if (line_number == 1) return report;
      if (!ended) ++entry_lines;  // too long for an "end" line
      continue;
    }
    if (ended) {
      problem(line_number, "text after the 'end' line");
      return report;
    }
    if (line_number == 1) {
      if (auto wrong = header_problem(line, expected_header)) {
        problem(1, *wrong);
        return report;
      }
      continue;
    }
    if (line.starts_with("end")) {
      if (auto wrong = end_problem(line, entry_lines)) problem(line_number, *wrong);
      ended = true;
      continue;
    }
    ++entry_lines;
    auto entry = parse_dump_entry(line);
    if (!entry.ok()) {
      problem(line_number, entry.status().message());
      continue;
    }
    ++(entry.value().table == Table::kTriplets ? report.triplets : report.clients);
    if (report.problem_count == 0) {
      if (const Status taken = on_entry(entry.value()); !taken.ok()) return taken;
    }
  }
}

}  // namespace greylist
