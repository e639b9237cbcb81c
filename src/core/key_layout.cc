#include "greylist/key_layout.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "greylist/ip_address.h"
#include "greylist/triplet.h"

namespace greylist {
namespace {

void append_field(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

struct Digest {
  unsigned char bytes[EVP_MAX_MD_SIZE];
  unsigned length = 0;
};

Digest hmac_sha256(std::string_view text, std::string_view secret) {
  Digest digest;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.bytes,
       &digest.length);
  return digest;
}

// Indexed by KeyKind.
struct Prefixes {
  std::string_view plain;
  std::string_view hashed;
};
constexpr Prefixes kPrefixes[] = {
    {kTripletKeyPrefix, kHashedTripletKeyPrefix},
    {kClientKeyPrefix, kHashedClientKeyPrefix},
    {kDomainKeyPrefix, kHashedDomainKeyPrefix},
    {kGreytrapKeyPrefix, kHashedGreytrapKeyPrefix},
};

bool is_verified_name(std::string_view name) { return !name.empty() && name != "unknown"; }

}  // namespace

std::optional<KeyKind> key_kind(std::string_view key) {
  for (const KeyKind kind :
       {KeyKind::kTriplet, KeyKind::kClient, KeyKind::kDomain, KeyKind::kGreytrap}) {
    if (key.starts_with(key_prefix(kind)) || key.starts_with(hashed_key_prefix(kind))) return kind;
  }
  return std::nullopt;
}

std::string_view key_prefix(KeyKind kind) {
  return kPrefixes[static_cast<std::size_t>(kind)].plain;
}

std::string_view hashed_key_prefix(KeyKind kind) {
  return kPrefixes[static_cast<std::size_t>(kind)].hashed;
}

std::string encode_triplet_key(std::string_view client_net, std::string_view sender,
                               std::string_view recipient) {
  std::string key(kTripletKeyPrefix);
  append_field(key, client_net);
  append_field(key, sender);
  append_field(key, recipient);
  return key;
}

std::string encode_client_key(std::string_view client_net) {
  return std::string(kClientKeyPrefix) + std::string(client_net);
}

std::string encode_domain_key(std::string_view client_net, std::string_view sender_domain) {
  std::string key(kDomainKeyPrefix);
  append_field(key, client_net);
  key += sender_domain;
  return key;
}

std::string encode_greytrap_key(std::string_view client_net) {
  return std::string(kGreytrapKeyPrefix) + std::string(client_net);
}

std::optional<std::string_view> greytrap_key_network(std::string_view key) {
  if (!key.starts_with(kGreytrapKeyPrefix)) return std::nullopt;
  return key.substr(kGreytrapKeyPrefix.size());
}

std::string pool_client(std::string_view registered_domain) {
  return std::string(kPoolMarker) + std::string(registered_domain);
}

std::optional<std::string_view> pool_domain(std::string_view client) {
  if (!client.starts_with(kPoolMarker)) return std::nullopt;
  return client.substr(kPoolMarker.size());
}

std::string spf_pool_client(std::string_view sender_domain) {
  return pool_client(std::string(kSpfPoolMarker) + std::string(sender_domain));
}

std::string hashed_key(KeyKind kind, std::string_view plain_key, std::string_view secret) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const Digest digest = hmac_sha256(plain_key, secret);
  std::string out(hashed_key_prefix(kind));
  out.reserve(out.size() + digest.length * 2);
  for (unsigned i = 0; i < digest.length; ++i) {
    out += kDigits[digest.bytes[i] >> 4];
    out += kDigits[digest.bytes[i] & 0x0f];
  }
  return out;
}

std::uint64_t keyed_hash64(std::string_view text, std::string_view secret) {
  const Digest digest = hmac_sha256(text, secret);
  std::uint64_t hash = 0;
  for (unsigned i = 0; i < 8 && i < digest.length; ++i) hash = hash << 8 | digest.bytes[i];
  return hash;
}

RecordKeys::RecordKeys(GreylistConfig config, const RegisteredDomains* domains)
    : config_(std::move(config)), domains_(domains) {}

std::string RecordKeys::stored(KeyKind kind, std::string plain) const {
  return config_.privacy ? hashed_key(kind, plain, config_.privacy_key) : plain;
}

ClientKind RecordKeys::client_kind(const Request& request) const {
  std::optional<std::string> domain;
  if (domains_ != nullptr && is_verified_name(request.client_name)) {
    domain = domains_->registered_domain(request.client_name);
  }
  return classify_client(request.client_name, request.client_address, domain.value_or(""));
}

std::string RecordKeys::triplet_client(const Request& request) const {
  if (config_.pool_by_spf && !request.spf_pass_domain.empty()) {
    return spf_pool_client(request.spf_pass_domain);
  }
  if (config_.pool_by_domain && domains_ != nullptr && is_verified_name(request.client_name)) {
    auto domain = domains_->registered_domain(request.client_name);
    if (domain && (config_.pool_dynamic_names ||
                   classify_client(request.client_name, request.client_address, *domain) !=
                       ClientKind::kDynamic)) {
      return pool_client(*domain);
    }
  }
  return client_network(request.client_address, config_);
}

std::string RecordKeys::triplet_key(const Request& request) const {
  return triplet_key_for(triplet_client(request), request);
}

std::string RecordKeys::triplet_key_for(std::string_view client, const Request& request) const {
  return stored(KeyKind::kTriplet,
                encode_triplet_key(client, normalize_sender(request.sender),
                                   normalize_recipient(request.recipient)));
}

std::string RecordKeys::client_key(const Request& request) const {
  using Key = GreylistConfig::ClientAwlKey;
  const bool by_host = config_.client_awl_key == Key::kHost ||
                       (config_.client_awl_key == Key::kAdaptive &&
                        client_kind(request) != ClientKind::kServer);
  return client_key_of(request.client_address, by_host);
}

std::string RecordKeys::client_key_of(std::string_view client_address, bool by_host) const {
  const auto address = by_host ? IpAddress::parse(client_address) : std::nullopt;
  return stored(KeyKind::kClient,
                encode_client_key(address ? address->to_string()
                                          : client_network(client_address, config_)));
}

std::string RecordKeys::domain_key(const Request& request) const {
  const std::string sender = normalize_sender(request.sender);
  const auto at = sender.rfind('@');
  if (at == std::string::npos || at + 1 == sender.size()) return {};
  const bool spf_pool = config_.pool_by_spf && !request.spf_pass_domain.empty();
  return stored(KeyKind::kDomain,
                encode_domain_key(spf_pool ? spf_pool_client(request.spf_pass_domain)
                                           : client_network(request.client_address, config_),
                                  std::string_view(sender).substr(at + 1)));
}

std::string RecordKeys::greytrap_key(const Request& request) const {
  return greytrap_key_of(request.client_address);
}

std::string RecordKeys::greytrap_key_of(std::string_view client_address) const {
  return stored(KeyKind::kGreytrap, encode_greytrap_key(client_network(client_address, config_)));
}

std::optional<std::string_view> keying_difference(const GreylistConfig& a,
                                                  const GreylistConfig& b) {
  if (a.lookup_by_host != b.lookup_by_host) return "lookup-by-host";
  if (a.ipv4_cidr != b.ipv4_cidr) return "ipv4cidr";
  if (a.ipv6_cidr != b.ipv6_cidr) return "ipv6cidr";
  if (a.privacy != b.privacy) return "privacy";
  if (a.privacy && a.privacy_key != b.privacy_key) return "privacy-key-file";
  if (a.pool_by_domain != b.pool_by_domain) return "pool-by-domain";
  if (a.pool_dynamic_names != b.pool_dynamic_names) return "pool-dynamic-names";
  if (a.pool_by_spf != b.pool_by_spf) return "pool-by-spf";
  if (a.client_awl_key != b.client_awl_key) return "client-awl-key";
  return std::nullopt;
}

}  // namespace greylist
