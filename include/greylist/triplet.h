// Triplet key building: client network, sender normalization, recipient.
// Pure functions over untrusted strings; they never fail, only degrade.
#pragma once

#include <string>
#include <string_view>

#include "greylist/greylist_config.h"

namespace greylist {

// The client part of the triplet: the network address of `client_address`
// with the configured prefix (IPv4 /24, IPv6 /64 by default), or the whole
// address with lookup_by_host. IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated
// as IPv4. Canonical text form ("192.0.2.0", "2001:db8::"), so every way of
// writing one address gives the same key. An unparsable address is returned
// lower-cased as it is.
std::string client_network(std::string_view client_address, const GreylistConfig& config);

// A client network as an administrator reads it (log lines, greylistctl):
// `network`, client_network()'s text, followed by its prefix length under
// `config`: "192.0.2.0/24", "2001:db8::/64", and "/32" or "/128" with
// lookup_by_host. The stored keys keep client_network()'s text. Text that is
// no address is returned as it is.
std::string network_with_prefix(std::string_view network, const GreylistConfig& config);
// network_with_prefix(client_network(client_address, config), config).
std::string client_network_text(std::string_view client_address, const GreylistConfig& config);

// postgrey's sender normalization, lower-cased: BATV "prvs=TAG=user" gives
// "user", "+extension" is stripped, each whole digit run in the local part
// becomes "#" (VERP). A sender without '@' (including the null sender) is
// only lower-cased.
std::string normalize_sender(std::string_view sender);

// The recipient, lower-cased.
std::string normalize_recipient(std::string_view recipient);

// The domain of an address (after the last '@'), or the whole string if it
// has none. Case is kept (used in the reply text).
std::string_view address_domain(std::string_view address);

}  // namespace greylist
