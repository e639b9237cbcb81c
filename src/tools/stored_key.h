// StoredKey: the store's keys read back (record_codec.h writes them), for
// the admin tool's listings. Untrusted bytes in (a damaged or foreign
// database), value types out; never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace greylist {

struct StoredKey {
  enum class Kind {
    kTriplet,  // "t1:" <len>':'<client> <len>':'<sender> <len>':'<recipient>
    kClient,   // "c1:" <client network>
    kDomain,   // "d1:" <len>':'<client network> <sender domain>
  };
  Kind kind = Kind::kTriplet;
  // --privacy keys ("t1h:", "c1h:", "d1h:"): only the hash is known.
  bool hashed = false;
  std::string hash;       // hashed: the hex digits after the prefix
  std::string client;     // triplet: network or "pool:<domain>"; client, domain: network
  std::string sender;     // triplet
  std::string recipient;  // triplet
  std::string domain;     // domain: the sender domain

  // Reads `key`; nullopt when it is none of the formats above (a length
  // that does not fit, trailing bytes, an unknown prefix).
  static std::optional<StoredKey> parse(std::string_view key);
};

}  // namespace greylist
