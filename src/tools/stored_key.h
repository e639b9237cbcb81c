// StoredKey: the store's keys read back (key_layout.h spells them), for
// the admin tool's listings. Untrusted bytes in (a damaged or foreign
// database), value types out; never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "greylist/key_layout.h"

namespace greylist {

struct StoredKey {
  // kTriplet, kClient, kDomain or kGreytrap, as key_layout.h lays them out.
  using Kind = KeyKind;
  Kind kind = Kind::kTriplet;
  // --privacy keys (hashed_key_prefix()): only the hash is known.
  bool hashed = false;
  std::string hash;       // hashed: the hex digits after the prefix
  std::string client;     // triplet: network or pool_client(); client, domain, greytrap: network
  std::string sender;     // triplet
  std::string recipient;  // triplet
  std::string domain;     // domain: the sender domain

  // Reads `key`; nullopt when it is none of the formats above (a length
  // that does not fit, trailing bytes, an unknown prefix).
  static std::optional<StoredKey> parse(std::string_view key);
};

}  // namespace greylist
