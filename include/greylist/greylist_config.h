// GreylistConfig: the settings the core decides with. Defaults are postgrey's.
#pragma once

#include <cstdint>
#include <string>

namespace greylist {

struct GreylistConfig {
  // Seconds a new triplet is deferred (--delay). 0 is honoured: no deferral,
  // triplets are still recorded (postgrey silently turns 0 into 300).
  std::int64_t delay = 300;
  // Seconds after first-seen within which a retry must come (--retry-window);
  // a later retry starts over as new.
  std::int64_t retry_window = 2 * 86400;
  // Seconds an entry may go unseen before it is forgotten (--max-age, >= 1 day).
  std::int64_t max_age = 35 * 86400;
  // Client auto-whitelisting after this many successful retries (0 = off).
  std::uint32_t auto_whitelist_clients = 5;
  // Sender-domain auto-whitelisting: a (client network, sender domain) pair
  // passes at once after this many distinct senders of the domain passed
  // from the network (0 = off).
  std::uint32_t auto_whitelist_domains = 2;
  // Key triplets of clients with a verified name on the name's registered
  // domain instead of the network, so a provider's pool retrying from
  // another network is the same triplet (--pool-by-domain).
  bool pool_by_domain = true;
  // Key on the full client address instead of its network (--lookup-by-host).
  bool lookup_by_host = false;
  int ipv4_cidr = 24;
  int ipv6_cidr = 64;
  // Store a keyed hash of the triplet instead of the addresses (--privacy).
  bool privacy = false;
  // Key for the privacy hash; only used when privacy is set.
  std::string privacy_key;
};

// Seconds between refreshes of last-seen on an already passed triplet or an
// auto-whitelisted client: keeps repeat traffic read-only (postgrey writes
// on every request) while max-age expiry stays accurate to the hour.
inline constexpr std::int64_t kLastSeenRefreshSeconds = 3600;

}  // namespace greylist
