// RecordCodec: the bytes every Store holds, and when an entry expires.
//
// Keys are versioned and length-prefixed, so no character of an address
// (a '/' or '@' is legal in a local part) can make two triplets collide:
//   triplet key: "t1:" <len> ':' <client-net> <len> ':' <sender> <len> ':' <recipient>
//   client key:  "c1:" <client-net>
//   privacy:     "t1h:" / "c1h:" followed by 64 hex digits of HMAC-SHA256.
// Values are fixed-size little-endian binary with a leading version byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "greylist/clock.h"
#include "greylist/greylist_config.h"

namespace greylist {

struct TripletRecord {
  EpochSeconds first_seen = 0;
  EpochSeconds last_seen = 0;
  // A retry came after the delay; later requests pass without a header.
  bool passed = false;
};

struct ClientRecord {
  std::uint32_t deliveries = 0;  // successful retries counted for auto-whitelisting
  EpochSeconds last_seen = 0;
};

std::string encode_triplet_key(std::string_view client_net, std::string_view sender,
                               std::string_view recipient);
std::string encode_client_key(std::string_view client_net);

std::string encode_triplet(const TripletRecord& record);
std::string encode_client(const ClientRecord& record);
// nullopt when the bytes are not a record of a known version.
std::optional<TripletRecord> decode_triplet(std::string_view bytes);
std::optional<ClientRecord> decode_client(std::string_view bytes);

// When the entry may be forgotten: an unpassed triplet when its retry window
// ends (a later retry starts over anyway), a passed triplet or a client
// max_age after it was last seen.
EpochSeconds triplet_expires_at(const TripletRecord& record, const GreylistConfig& config);
EpochSeconds client_expires_at(const ClientRecord& record, const GreylistConfig& config);

}  // namespace greylist
