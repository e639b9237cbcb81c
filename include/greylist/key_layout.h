// KeyLayout: how every store key is spelled, the one place that knows.
//
// Keys are versioned and length-prefixed, so no character of an address
// (a '/' or '@' is legal in a local part) can make two triplets collide:
//   triplet key  "t1:" <len>':'<client> <len>':'<sender> <len>':'<recipient>
//                <client>: the client network ("192.0.2.0", "2001:db8::"), or
//                "pool:" <registered domain> of a verified client name
//                (--pool-by-domain), or "pool:spf:" <sender domain> when
//                the client passed SPF for the sender's domain (--pool-by-spf)
//   client key   "c1:" <client network, or the full address>     (client AWL,
//                --client-awl-key)
//   domain key   "d1:" <len>':'<client> <sender domain>  (domain AWL)
//                <client>: the client network, or "pool:spf:" <sender domain>
//                when the client passed SPF for it (--pool-by-spf)
//   greytrap key "g1:" <client network>    (a network trapped by a greytrap
//                rule; never a pool, never a single host but by
//                --lookup-by-host)
//   --privacy    "t1h:" / "c1h:" / "d1h:" / "g1h:" and the 64 lower-case hex digits of
//                HMAC-SHA256(privacy key, the plain key above)
// <len> is the field's length in bytes, in decimal. The "1" is the key
// version. Triplets live in the triplets table; client, domain and
// greytrap entries share the clients table, told apart by the prefix.
//
// Values (record_codec.h) start with a version byte: kRecordVersion1 for
// every record; a triplet written since first_network was added has
// kTripletRecordVersion2. Changing any of this changes the on-disk format.
//
// Pure functions over untrusted strings; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "greylist/client_kind.h"
#include "greylist/greylist_config.h"
#include "greylist/registered_domains.h"
#include "greylist/request.h"

namespace greylist {

inline constexpr std::string_view kTripletKeyPrefix = "t1:";
inline constexpr std::string_view kClientKeyPrefix = "c1:";
inline constexpr std::string_view kDomainKeyPrefix = "d1:";
inline constexpr std::string_view kHashedTripletKeyPrefix = "t1h:";
inline constexpr std::string_view kHashedClientKeyPrefix = "c1h:";
inline constexpr std::string_view kHashedDomainKeyPrefix = "d1h:";
inline constexpr std::string_view kGreytrapKeyPrefix = "g1:";
inline constexpr std::string_view kHashedGreytrapKeyPrefix = "g1h:";
// The <client> part of a triplet key of a pool starts with this marker.
inline constexpr std::string_view kPoolMarker = "pool:";
// After kPoolMarker: the pool of the addresses a sender domain's SPF record
// authorizes (no registered domain holds a ':').
inline constexpr std::string_view kSpfPoolMarker = "spf:";

// First byte of every stored value.
inline constexpr char kRecordVersion1 = 1;
inline constexpr char kTripletRecordVersion2 = 2;  // a triplet with first_network

enum class KeyKind { kTriplet = 0, kClient = 1, kDomain = 2, kGreytrap = 3 };

// The kind of a stored key, plain or hashed, from its prefix alone; nullopt
// when it has none of the prefixes above.
std::optional<KeyKind> key_kind(std::string_view key);
// The prefix of a plain / a hashed (--privacy) key of `kind`.
std::string_view key_prefix(KeyKind kind);
std::string_view hashed_key_prefix(KeyKind kind);

std::string encode_triplet_key(std::string_view client_net, std::string_view sender,
                               std::string_view recipient);
std::string encode_client_key(std::string_view client_net);
std::string encode_domain_key(std::string_view client_net, std::string_view sender_domain);
std::string encode_greytrap_key(std::string_view client_net);
// The network of a plain greytrap key ("g1:192.0.2.0" -> "192.0.2.0");
// nullopt for any other key (a hashed one included).
std::optional<std::string_view> greytrap_key_network(std::string_view key);

// The <client> part of a triplet key for a pool, and back: the registered
// domain of a pool client, nullopt when `client` is a network.
std::string pool_client(std::string_view registered_domain);
std::optional<std::string_view> pool_domain(std::string_view client);
// The <client> part of a triplet key for the SPF pool of `sender_domain`:
// "pool:spf:example.com"; pool_domain() of it is "spf:example.com".
std::string spf_pool_client(std::string_view sender_domain);

// --privacy: the hashed key stored instead of `plain_key` of `kind`.
std::string hashed_key(KeyKind kind, std::string_view plain_key, std::string_view secret);
// The first 8 bytes of HMAC-SHA256(secret, text), big-endian (record
// contents under --privacy; see record_hash()).
std::uint64_t keyed_hash64(std::string_view text, std::string_view secret);

// The option of the first setting keys depend on (--lookup-by-host,
// --ipv4cidr, --ipv6cidr, --privacy and its key, --pool-by-domain,
// --pool-dynamic-names, --pool-by-spf, --client-awl-key) that differs
// between `a` and `b`;
// nullopt when they key alike.
std::optional<std::string_view> keying_difference(const GreylistConfig& a, const GreylistConfig& b);

// The keys of one request, as the daemon computes them: --privacy,
// --lookup-by-host, the subnet masks and --pool-by-domain applied.
class RecordKeys {
 public:
  // `domains` must outlive this; nullptr: --pool-by-domain has no effect.
  RecordKeys(GreylistConfig config, const RegisteredDomains* domains);
  // The settings the keys are made with (never changed: see
  // keying_difference()).
  const GreylistConfig& config() const { return config_; }

  // What the client's verified name says (client_kind.h), its registered
  // domain left out of the look.
  ClientKind client_kind(const Request& request) const;
  // The client part of the triplet: spf_pool_client(<sender domain>) for a
  // request with spf_pass_domain under --pool-by-spf; else
  // pool_client(<registered domain>) for a client with a verified name
  // under --pool-by-domain (unless the name looks dynamic and
  // --pool-dynamic-names is off); else the network.
  std::string triplet_client(const Request& request) const;
  std::string triplet_key(const Request& request) const;
  // The triplet key of `request` with `client` as its client part.
  std::string triplet_key_for(std::string_view client, const Request& request) const;
  // The client's key in the auto-whitelist table: its network, or its full
  // address under --client-awl-key host, and under adaptive for a client
  // without a name or with a dynamic-looking one.
  std::string client_key(const Request& request) const;
  // The client auto-whitelist key of `client_address`: its full address
  // (`by_host`, when it parses) or its network; for tools that have an
  // address but no name.
  std::string client_key_of(std::string_view client_address, bool by_host) const;
  // The (client network, sender domain) key of the domain auto-whitelist,
  // the network replaced by spf_pool_client(<sender domain>) for a request
  // with spf_pass_domain under --pool-by-spf (the senders of a domain that
  // passed from any address it authorizes count together, as a pool's
  // retries do); empty for a sender without a domain (the null sender).
  std::string domain_key(const Request& request) const;
  // The greytrap key of the client's network (client_network(): the
  // triplets' grouping, never a pool); greytrap_key_of() for tools that
  // have an address or a network.
  std::string greytrap_key(const Request& request) const;
  std::string greytrap_key_of(std::string_view client_address) const;

 private:
  std::string stored(KeyKind kind, std::string plain) const;

  GreylistConfig config_;
  const RegisteredDomains* domains_;
};

}  // namespace greylist
