#include "greylist/record_codec.h"

#include <algorithm>

namespace greylist {
namespace {

constexpr std::size_t kTripletSizeV1 = 1 + 8 + 8 + 1;
constexpr std::size_t kTripletSizeV2 = kTripletSizeV1 + 8;
constexpr std::size_t kClientSize = 1 + 4 + 8;
constexpr std::size_t kDomainHeaderSize = 1 + 8 + 1;
constexpr std::size_t kTrapSize = 1 + 8 + 8;
// Stored times beyond 9999-12-31 or before 1970 come from a damaged entry;
// accepting them would overflow the arithmetic on them (found by fuzzing).
constexpr EpochSeconds kMaxStoredTime = 253'402'300'799;

bool plausible(EpochSeconds time) { return time >= 0 && time <= kMaxStoredTime; }

void append_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

std::uint64_t read_le(std::string_view in, std::size_t offset, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[offset + i])) << (8 * i);
  }
  return value;
}

}  // namespace

std::uint64_t stable_hash(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return hash == 0 ? 1 : hash;
}

std::uint64_t record_hash(std::string_view text, const GreylistConfig& config) {
  if (!config.privacy) return stable_hash(text);
  const std::uint64_t hash = keyed_hash64(text, config.privacy_key);
  return hash == 0 ? 1 : hash;
}

std::string encode_triplet(const TripletRecord& record) {
  std::string out;
  out.reserve(kTripletSizeV2);
  out += kTripletRecordVersion2;
  append_le(out, static_cast<std::uint64_t>(record.first_seen), 8);
  append_le(out, static_cast<std::uint64_t>(record.last_seen), 8);
  out += static_cast<char>(record.passed ? 1 : 0);
  append_le(out, record.first_network, 8);
  return out;
}

std::string encode_domain(const DomainRecord& record) {
  const std::size_t count = std::min(record.sender_hashes.size(), DomainRecord::kMaxSenders);
  std::string out;
  out.reserve(kDomainHeaderSize + 8 * count);
  out += kRecordVersion1;
  append_le(out, static_cast<std::uint64_t>(record.last_seen), 8);
  out += static_cast<char>(count);
  for (std::size_t i = 0; i < count; ++i) append_le(out, record.sender_hashes[i], 8);
  return out;
}

std::string encode_client(const ClientRecord& record) {
  std::string out;
  out.reserve(kClientSize);
  out += kRecordVersion1;
  append_le(out, record.deliveries, 4);
  append_le(out, static_cast<std::uint64_t>(record.last_seen), 8);
  return out;
}

std::string encode_trap(const TrapRecord& record) {
  std::string out;
  out.reserve(kTrapSize);
  out += kRecordVersion1;
  append_le(out, static_cast<std::uint64_t>(record.trapped_at), 8);
  append_le(out, static_cast<std::uint64_t>(record.hold_until), 8);
  return out;
}

std::optional<TripletRecord> decode_triplet(std::string_view bytes) {
  const bool v1 = bytes.size() == kTripletSizeV1 && bytes[0] == kRecordVersion1;
  const bool v2 = bytes.size() == kTripletSizeV2 && bytes[0] == kTripletRecordVersion2;
  if (!v1 && !v2) return std::nullopt;
  const auto flags = static_cast<unsigned char>(bytes[17]);
  if (flags > 1) return std::nullopt;
  TripletRecord record;
  record.first_seen = static_cast<EpochSeconds>(read_le(bytes, 1, 8));
  record.last_seen = static_cast<EpochSeconds>(read_le(bytes, 9, 8));
  record.passed = flags == 1;
  if (v2) record.first_network = read_le(bytes, 18, 8);
  if (!plausible(record.first_seen) || !plausible(record.last_seen)) return std::nullopt;
  return record;
}

std::optional<DomainRecord> decode_domain(std::string_view bytes) {
  if (bytes.size() < kDomainHeaderSize || bytes[0] != kRecordVersion1) return std::nullopt;
  const auto count = static_cast<unsigned char>(bytes[9]);
  if (count > DomainRecord::kMaxSenders || bytes.size() != kDomainHeaderSize + 8u * count) {
    return std::nullopt;
  }
  DomainRecord record;
  record.last_seen = static_cast<EpochSeconds>(read_le(bytes, 1, 8));
  if (!plausible(record.last_seen)) return std::nullopt;
  for (std::size_t i = 0; i < count; ++i) {
    record.sender_hashes.push_back(read_le(bytes, kDomainHeaderSize + 8 * i, 8));
  }
  return record;
}

std::optional<ClientRecord> decode_client(std::string_view bytes) {
  if (bytes.size() != kClientSize || bytes[0] != kRecordVersion1) return std::nullopt;
  ClientRecord record;
  record.deliveries = static_cast<std::uint32_t>(read_le(bytes, 1, 4));
  record.last_seen = static_cast<EpochSeconds>(read_le(bytes, 5, 8));
  if (!plausible(record.last_seen)) return std::nullopt;
  return record;
}

std::optional<TrapRecord> decode_trap(std::string_view bytes) {
  if (bytes.size() != kTrapSize || bytes[0] != kRecordVersion1) return std::nullopt;
  TrapRecord record;
  record.trapped_at = static_cast<EpochSeconds>(read_le(bytes, 1, 8));
  record.hold_until = static_cast<EpochSeconds>(read_le(bytes, 9, 8));
  if (!plausible(record.trapped_at) || !plausible(record.hold_until)) return std::nullopt;
  return record;
}

EpochSeconds triplet_expires_at(const TripletRecord& record, const GreylistConfig& config) {
  if (!record.passed) return record.first_seen + config.retry_window;
  return record.last_seen + config.max_age;
}

EpochSeconds client_expires_at(const ClientRecord& record, const GreylistConfig& config) {
  return record.last_seen + config.max_age;
}

EpochSeconds domain_expires_at(const DomainRecord& record, const GreylistConfig& config) {
  return record.last_seen + config.max_age;
}

EpochSeconds trap_expires_at(const TrapRecord& record) { return record.hold_until; }

bool from_newer_release(Table table, std::string_view value) {
  if (value.empty()) return false;
  const int version = static_cast<unsigned char>(value.front());
  const int newest = table == Table::kTriplets ? kTripletRecordVersion2 : kRecordVersion1;
  return version > newest && version <= newest + kNewerVersionsKept;
}

std::optional<EpochSeconds> entry_expires_at(Table table, std::string_view key,
                                             std::string_view value, const GreylistConfig& config) {
  if (table == Table::kTriplets) {
    const auto record = decode_triplet(value);
    if (!record) return std::nullopt;
    return triplet_expires_at(*record, config);
  }
  const auto kind = key_kind(key);
  if (kind == KeyKind::kGreytrap) {
    const auto record = decode_trap(value);
    if (!record) return std::nullopt;
    return trap_expires_at(*record);
  }
  if (kind == KeyKind::kDomain) {
    const auto record = decode_domain(value);
    if (!record) return std::nullopt;
    return domain_expires_at(*record, config);
  }
  const auto record = decode_client(value);
  if (!record) return std::nullopt;
  return client_expires_at(*record, config);
}

}  // namespace greylist
