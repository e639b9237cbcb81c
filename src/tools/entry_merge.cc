#include "tools/entry_merge.h"

#include <algorithm>

#include "greylist/record_codec.h"

namespace greylist {
namespace {

std::string merge_triplets(const TripletRecord& existing, const TripletRecord& imported) {
  TripletRecord record = existing;
  record.first_seen = std::min(existing.first_seen, imported.first_seen);
  record.last_seen = std::max(existing.last_seen, imported.last_seen);
  record.passed = existing.passed || imported.passed;
  if (record.first_network == 0) record.first_network = imported.first_network;
  return encode_triplet(record);
}

std::string merge_clients(const ClientRecord& existing, const ClientRecord& imported) {
  ClientRecord record;
  record.deliveries = std::max(existing.deliveries, imported.deliveries);
  record.last_seen = std::max(existing.last_seen, imported.last_seen);
  return encode_client(record);
}

std::string merge_domains(const DomainRecord& existing, const DomainRecord& imported) {
  DomainRecord record = existing;
  record.last_seen = std::max(existing.last_seen, imported.last_seen);
  for (const std::uint64_t hash : imported.sender_hashes) {
    if (record.sender_hashes.size() >= DomainRecord::kMaxSenders) break;
    if (std::find(record.sender_hashes.begin(), record.sender_hashes.end(), hash) ==
        record.sender_hashes.end()) {
      record.sender_hashes.push_back(hash);
    }
  }
  return encode_domain(record);
}

// A trap held by either: the earlier first hit, the later end of the hold.
std::string merge_traps(const TrapRecord& existing, const TrapRecord& imported) {
  TrapRecord record;
  record.trapped_at = std::min(existing.trapped_at, imported.trapped_at);
  record.hold_until = std::max(existing.hold_until, imported.hold_until);
  return encode_trap(record);
}

}  // namespace

std::string merge_entry(StoredKey::Kind kind, std::string_view existing,
                        std::string_view imported) {
  switch (kind) {
    case StoredKey::Kind::kTriplet: {
      const auto old_record = decode_triplet(existing);
      const auto new_record = decode_triplet(imported);
      if (old_record && new_record) return merge_triplets(*old_record, *new_record);
      break;
    }
    case StoredKey::Kind::kClient: {
      const auto old_record = decode_client(existing);
      const auto new_record = decode_client(imported);
      if (old_record && new_record) return merge_clients(*old_record, *new_record);
      break;
    }
    case StoredKey::Kind::kDomain: {
      const auto old_record = decode_domain(existing);
      const auto new_record = decode_domain(imported);
      if (old_record && new_record) return merge_domains(*old_record, *new_record);
      break;
    }
    case StoredKey::Kind::kGreytrap: {
      const auto old_record = decode_trap(existing);
      const auto new_record = decode_trap(imported);
      if (old_record && new_record) return merge_traps(*old_record, *new_record);
      break;
    }
  }
  return std::string(imported);
}

bool record_decodes(StoredKey::Kind kind, std::string_view bytes) {
  switch (kind) {
    case StoredKey::Kind::kTriplet: return decode_triplet(bytes).has_value();
    case StoredKey::Kind::kClient: return decode_client(bytes).has_value();
    case StoredKey::Kind::kDomain: return decode_domain(bytes).has_value();
    case StoredKey::Kind::kGreytrap: return decode_trap(bytes).has_value();
  }
  return false;
}

bool same_record(StoredKey::Kind kind, std::string_view a, std::string_view b) {
  switch (kind) {
    case StoredKey::Kind::kTriplet: {
      const auto x = decode_triplet(a);
      const auto y = decode_triplet(b);
      return x && y && x->first_seen == y->first_seen && x->last_seen == y->last_seen &&
             x->passed == y->passed && x->first_network == y->first_network;
    }
    case StoredKey::Kind::kClient: {
      const auto x = decode_client(a);
      const auto y = decode_client(b);
      return x && y && x->deliveries == y->deliveries && x->last_seen == y->last_seen;
    }
    case StoredKey::Kind::kDomain: {
      const auto x = decode_domain(a);
      const auto y = decode_domain(b);
      return x && y && x->last_seen == y->last_seen && x->sender_hashes == y->sender_hashes;
    }
    case StoredKey::Kind::kGreytrap: {
      const auto x = decode_trap(a);
      const auto y = decode_trap(b);
      return x && y && x->trapped_at == y->trapped_at && x->hold_until == y->hold_until;
    }
  }
  return false;
}

}  // namespace greylist
