// GreylistConfig: the settings the core decides with, at the daemon's
// defaults. postgrey's behaviour: --compat postgrey (src/config/).
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
  // With pool_by_domain, also pool names that look like ISP customer ranges
  // (ClientKind::kDynamic, client_kind.h; --pool-dynamic-names). Off: bots
  // of one ISP share its registered domain, and a bot retrying another
  // bot's envelope would pass.
  bool pool_dynamic_names = false;
  // Key the triplet of a client whose SPF check for the envelope sender's
  // domain gives pass (Request::spf_pass_domain, set by the front ends) on
  // that domain, so a retry from any address the domain authorizes is the
  // same triplet (--pool-by-spf). Before --pool-by-domain.
  bool pool_by_spf = true;
  // What the client auto-whitelist is keyed on (--client-awl-key): the
  // client network; the full address (postgrey); or adaptive: the network
  // for clients named like servers, the full address for clients without a
  // name or with a dynamic-looking one, so bots sharing a network with a
  // retrying bot are not whitelisted with it.
  enum class ClientAwlKey { kNetwork, kHost, kAdaptive };
  ClientAwlKey client_awl_key = ClientAwlKey::kAdaptive;
  // Seconds a new triplet of a client without a verified name or with a
  // dynamic-looking one is deferred, when longer than `delay`
  // (--dynamic-delay; 0: `delay` for every client). Retrying bots give up
  // sooner than mail servers.
  std::int64_t dynamic_delay = 2400;
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
