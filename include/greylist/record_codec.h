// RecordCodec: the values every Store holds, and when an entry expires.
//
// The keys are spelled by key_layout.h (included here for the key
// encoders). Values are little-endian binary with a leading version byte
// (key_layout.h names the versions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/clock.h"
#include "greylist/greylist_config.h"
#include "greylist/key_layout.h"
#include "greylist/store.h"

namespace greylist {

struct TripletRecord {
  EpochSeconds first_seen = 0;
  EpochSeconds last_seen = 0;
  // A retry came after the delay; later requests pass without a header.
  bool passed = false;
  // Hash of the client network of the first attempt (0 = not recorded), so
  // a pass from another network of the same pool can be told apart.
  std::uint64_t first_network = 0;
};

struct ClientRecord {
  std::uint32_t deliveries = 0;  // successful retries counted for auto-whitelisting
  EpochSeconds last_seen = 0;
};

// Sender domain auto-whitelisting: the distinct senders of one domain seen
// passing from one client network.
struct DomainRecord {
  static constexpr std::size_t kMaxSenders = 16;
  EpochSeconds last_seen = 0;
  std::vector<std::uint64_t> sender_hashes;  // distinct, at most kMaxSenders
};

// A client network trapped by a greytrap rule (greylist/rule_set.h): every
// request from it is tempfailed until hold_until.
struct TrapRecord {
  EpochSeconds trapped_at = 0;  // the first hit of this hold
  EpochSeconds hold_until = 0;  // the hold ends (the entry expires) then
};

// A stable 64-bit hash (FNV-1a) of `text`, never 0; for record contents only.
std::uint64_t stable_hash(std::string_view text);

// The hash a record keeps of a client network or a sender
// (TripletRecord::first_network, DomainRecord::sender_hashes): stable_hash,
// or with config.privacy the first 8 bytes of HMAC-SHA256(privacy_key,
// text), as an unkeyed hash of a /24 network or of an address is undone by
// enumerating them. Never 0.
std::uint64_t record_hash(std::string_view text, const GreylistConfig& config);

std::string encode_triplet(const TripletRecord& record);
std::string encode_client(const ClientRecord& record);
std::string encode_domain(const DomainRecord& record);
std::string encode_trap(const TrapRecord& record);
// nullopt when the bytes are not a record of a known version, or hold a
// time before 1970 or after 9999 (a damaged entry: the core treats it as
// absent, and its times can be added to without overflow).
std::optional<TripletRecord> decode_triplet(std::string_view bytes);
std::optional<ClientRecord> decode_client(std::string_view bytes);
std::optional<DomainRecord> decode_domain(std::string_view bytes);
std::optional<TrapRecord> decode_trap(std::string_view bytes);

// When the entry may be forgotten: an unpassed triplet when its retry window
// ends (a later retry starts over anyway), a passed triplet or a client
// max_age after it was last seen, a trap when its hold ends.
EpochSeconds triplet_expires_at(const TripletRecord& record, const GreylistConfig& config);
EpochSeconds client_expires_at(const ClientRecord& record, const GreylistConfig& config);
EpochSeconds domain_expires_at(const DomainRecord& record, const GreylistConfig& config);
EpochSeconds trap_expires_at(const TrapRecord& record);

// True when `value` cannot be decoded because a newer release wrote it (a
// downgrade): its version byte is above the newest this release writes in
// `table` (kTripletRecordVersion2 for triplets, kRecordVersion1 for client,
// domain and greytrap entries) by at most kNewerVersionsKept (a byte further off is
// damage, not a release: '?' is no version). Such entries are kept, not
// expired; other undecodable values are damaged.
inline constexpr int kNewerVersionsKept = 16;
bool from_newer_release(Table table, std::string_view value);

// When any stored entry expires, from its table and key; nullopt when the
// value cannot be decoded as what the key says it is.
std::optional<EpochSeconds> entry_expires_at(Table table, std::string_view key,
                                             std::string_view value, const GreylistConfig& config);

}  // namespace greylist
