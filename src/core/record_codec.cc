#include "greylist/record_codec.h"

namespace greylist {
namespace {

constexpr char kRecordVersion = 1;
constexpr std::size_t kTripletSize = 1 + 8 + 8 + 1;
constexpr std::size_t kClientSize = 1 + 4 + 8;

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

void append_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

}  // namespace

std::string encode_triplet_key(std::string_view client_net, std::string_view sender,
                               std::string_view recipient) {
  std::string key = "t1:";
  append_field(key, client_net);
  append_field(key, sender);
  append_field(key, recipient);
  return key;
}

std::string encode_client_key(std::string_view client_net) {
  return "c1:" + std::string(client_net);
}

std::string encode_triplet(const TripletRecord& record) {
  std::string out;
  out.reserve(kTripletSize);
  out += kRecordVersion;
  append_le(out, static_cast<std::uint64_t>(record.first_seen), 8);
  append_le(out, static_cast<std::uint64_t>(record.last_seen), 8);
  out += static_cast<char>(record.passed ? 1 : 0);
  return out;
}

std::string encode_client(const ClientRecord& record) {
  std::string out;
  out.reserve(kClientSize);
  out += kRecordVersion;
  append_le(out, record.deliveries, 4);
  append_le(out, static_cast<std::uint64_t>(record.last_seen), 8);
  return out;
}

std::optional<TripletRecord> decode_triplet(std::string_view bytes) {
  if (bytes.size() != kTripletSize || bytes[0] != kRecordVersion) return std::nullopt;
  const auto flags = static_cast<unsigned char>(bytes[17]);
  if (flags > 1) return std::nullopt;
  TripletRecord record;
  record.first_seen = static_cast<EpochSeconds>(read_le(bytes, 1, 8));
  record.last_seen = static_cast<EpochSeconds>(read_le(bytes, 9, 8));
  record.passed = flags == 1;
  return record;
}

std::optional<ClientRecord> decode_client(std::string_view bytes) {
  if (bytes.size() != kClientSize || bytes[0] != kRecordVersion) return std::nullopt;
  ClientRecord record;
  record.deliveries = static_cast<std::uint32_t>(read_le(bytes, 1, 4));
  record.last_seen = static_cast<EpochSeconds>(read_le(bytes, 5, 8));
  return record;
}

EpochSeconds triplet_expires_at(const TripletRecord& record, const GreylistConfig& config) {
  if (!record.passed) return record.first_seen + config.retry_window;
  return record.last_seen + config.max_age;
}

EpochSeconds client_expires_at(const ClientRecord& record, const GreylistConfig& config) {
  return record.last_seen + config.max_age;
}

}  // namespace greylist
