#include "greylist/greylister.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <exception>

#include "greylist/record_codec.h"
#include "greylist/triplet.h"

namespace greylist {
namespace {

std::string hex(const unsigned char* bytes, unsigned length) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 0x0f];
  }
  return out;
}

// --privacy: the store sees HMAC-SHA256(key, plain key) instead of addresses.
std::string keyed_hash(std::string_view prefix, std::string_view key, std::string_view secret) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest, &length);
  return std::string(prefix) + hex(digest, length);
}

Decision error_decision(const Status& status) {
  Decision d;
  d.action = Decision::Action::kError;
  d.reason = status.message().empty() ? "store error" : status.message();
  return d;
}

bool is_verified_name(std::string_view name) { return !name.empty() && name != "unknown"; }

// What the triplet update found; recomputed on every call of the update
// function, since a store may call it again after a lock conflict.
struct TripletOutcome {
  enum class Kind { kNew, kEarlyRetry, kFirstPass, kPassed } kind = Kind::kNew;
  EpochSeconds first_seen = 0;
  std::int64_t seconds_left = 0;
  std::uint64_t first_network = 0;
};

// One kind of auto-whitelist entry (client, or sender domain), so both
// share the look-up and the hourly refresh.
template <typename Record>
struct AwlKind {
  const char* reason;
  std::optional<Record> (*decode)(std::string_view);
  std::string (*encode)(const Record&);
  EpochSeconds (*expires_at)(const Record&, const GreylistConfig&);
  std::uint32_t (*progress)(const Record&);
};

const AwlKind<ClientRecord> kClientAwl{
    "client AWL", decode_client, encode_client, client_expires_at,
    [](const ClientRecord& r) { return r.deliveries; }};
const AwlKind<DomainRecord> kDomainAwl{
    "domain AWL", decode_domain, encode_domain, domain_expires_at,
    [](const DomainRecord& r) { return static_cast<std::uint32_t>(r.sender_hashes.size()); }};

// Whether the entry under `key` has reached `threshold`. A whitelisted
// entry's last-seen time is refreshed at most once an hour, so it does not
// expire while in use yet repeat traffic stays read-only.
template <typename Record>
Result<bool> awl_reached(Store& store, const GreylistConfig& config, const AwlKind<Record>& kind,
                         const std::string& key, std::uint32_t threshold, EpochSeconds now,
                         std::string& warning) {
  auto found = store.get(Table::kClients, key);
  if (!found.ok()) return found.status();
  const auto record = found.value() ? kind.decode(*found.value()) : std::nullopt;
  if (!record || kind.progress(*record) < threshold) return false;
  if (now >= record->last_seen + kLastSeenRefreshSeconds || record->last_seen > now) {
    const Status refreshed = store.update(
        Table::kClients, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
          auto current = value ? kind.decode(*value) : std::nullopt;
          if (!current) return {};
          current->last_seen = now;
          value = kind.encode(*current);
          return {UpdateOutcome::Verdict::kWrite, kind.expires_at(*current, config)};
        });
    if (!refreshed.ok()) warning = std::string(kind.reason) + " refresh failed: " + refreshed.message();
  }
  return true;
}

}  // namespace

Greylister::Greylister(GreylistConfig config, Store& store, const Clock& clock,
                       const RegisteredDomains* domains)
    : config_(std::move(config)), store_(store), clock_(clock), domains_(domains) {}

void Greylister::set_whitelist(std::shared_ptr<const Whitelist> whitelist) {
  std::atomic_store(&whitelist_, std::move(whitelist));
}

std::string Greylister::triplet_client(const Request& request) const {
  if (config_.pool_by_domain && domains_ != nullptr && is_verified_name(request.client_name)) {
    if (auto domain = domains_->registered_domain(request.client_name)) return pool_client(*domain);
  }
  return client_network(request.client_address, config_);
}

std::string Greylister::triplet_key(const Request& request) const {
  return triplet_key_for(triplet_client(request), request);
}

std::string Greylister::triplet_key_for(const std::string& client, const Request& request) const {
  std::string key = encode_triplet_key(client, normalize_sender(request.sender),
                                       normalize_recipient(request.recipient));
  return config_.privacy ? keyed_hash("t1h:", key, config_.privacy_key) : key;
}

std::string Greylister::client_key(const Request& request) const {
  std::string key = encode_client_key(client_network(request.client_address, config_));
  return config_.privacy ? keyed_hash("c1h:", key, config_.privacy_key) : key;
}

std::string Greylister::domain_key(const Request& request) const {
  const std::string sender = normalize_sender(request.sender);
  const auto at = sender.rfind('@');
  if (at == std::string::npos || at + 1 == sender.size()) return {};
  std::string key = encode_domain_key(client_network(request.client_address, config_),
                                      std::string_view(sender).substr(at + 1));
  return config_.privacy ? keyed_hash("d1h:", key, config_.privacy_key) : key;
}

Decision Greylister::decide(const Request& request) const {
  const auto started = std::chrono::steady_clock::now();
  Decision decision;
  try {
    decision = decide_or_throw(request, clock_.now());
  } catch (const std::exception& e) {
    decision = error_decision(Status::IoError(std::string("internal error: ") + e.what()));
  } catch (...) {
    decision = error_decision(Status::IoError("internal error"));
  }
  if (observer_ != nullptr) {
    observer_->on_decision(request, decision, std::chrono::steady_clock::now() - started);
  }
  return decision;
}

Decision Greylister::decide_or_throw(const Request& request, EpochSeconds now) const {
  Decision decision;

  if (const auto whitelist = std::atomic_load(&whitelist_)) {
    if (auto match = whitelist->match(request)) {
      decision.action = Decision::Action::kWhitelisted;
      decision.reason = match->rule.empty() ? match->reason
                                            : match->reason + " (" + match->rule + ")";
      return decision;
    }
  }

  if (config_.auto_whitelist_clients > 0) {
    auto reached = awl_reached(store_, config_, kClientAwl, client_key(request),
                               config_.auto_whitelist_clients, now, decision.warning);
    if (!reached.ok()) return error_decision(reached.status());
    if (reached.value()) {
      decision.action = Decision::Action::kWhitelisted;
      decision.reason = kClientAwl.reason;
      return decision;
    }
  }
  if (config_.auto_whitelist_domains > 0) {
    if (const std::string key = domain_key(request); !key.empty()) {
      auto reached = awl_reached(store_, config_, kDomainAwl, key, config_.auto_whitelist_domains,
                                 now, decision.warning);
      if (!reached.ok()) return error_decision(reached.status());
      if (reached.value()) {
        decision.action = Decision::Action::kWhitelisted;
        decision.reason = kDomainAwl.reason;
        return decision;
      }
    }
  }

  const std::string client = triplet_client(request);
  const std::string network_text = client_network(request.client_address, config_);
  const std::uint64_t network = record_hash(network_text, config_);
  const std::string key = triplet_key_for(client, request);
  // Under --pool-by-domain the triplet may still be keyed by the client's
  // network: written before the option was on, or imported from postgrey.
  // So a pool key that is absent is first reported as a miss (nothing
  // written), the network-keyed entry looked up, and the update run again
  // with it as the entry to start from: it is copied under the pool key.
  // Only this miss path pays the extra look-ups.
  const bool pooled = client != network_text;
  bool fallback_looked_up = !pooled;
  bool pool_key_missing = false;
  std::optional<TripletRecord> inherited;
  TripletOutcome outcome;
  const auto triplet_update = [&](std::optional<std::string>& value) -> UpdateOutcome {
    outcome = TripletOutcome{};
    pool_key_missing = false;
    if (!value && !fallback_looked_up) {
      pool_key_missing = true;
      return {};
    }
    // An entry we cannot decode (damaged, or from a newer version) is
    // treated as absent: greylisting once more is the safe answer.
    auto record = value ? decode_triplet(*value) : std::nullopt;
    bool write = false;
    if (!value && inherited) {
      record = inherited;
      write = true;
    }
    if (!record) {
      record = TripletRecord{now, now, false, network};
      write = true;
    } else {
      if (record->first_seen > now) {  // clock went back, or a bad import
        record->first_seen = now;
        write = true;
      }
      if (!record->passed && now - record->first_seen > config_.retry_window) {
        record = TripletRecord{now, now, false, network};
        write = true;
      }
    }
    outcome.first_seen = record->first_seen;
    outcome.first_network = record->first_network;
    const std::int64_t left = config_.delay - (now - record->first_seen);
    if (left > 0) {
      outcome.kind = now == record->first_seen ? TripletOutcome::Kind::kNew
                                               : TripletOutcome::Kind::kEarlyRetry;
      outcome.seconds_left = left;
    } else if (!record->passed) {
      outcome.kind = TripletOutcome::Kind::kFirstPass;
      record->passed = true;
      record->last_seen = now;
      write = true;
    } else {
      outcome.kind = TripletOutcome::Kind::kPassed;
      if (now - record->last_seen >= kLastSeenRefreshSeconds || record->last_seen > now) {
        record->last_seen = now;
        write = true;
      }
    }
    if (!write) return {};
    value = encode_triplet(*record);
    return {UpdateOutcome::Verdict::kWrite, triplet_expires_at(*record, config_)};
  };
  Status updated = store_.update(Table::kTriplets, key, triplet_update);
  if (updated.ok() && pool_key_missing) {
    auto found = store_.get(Table::kTriplets, triplet_key_for(network_text, request));
    if (!found.ok()) return error_decision(found.status());
    if (found.value()) inherited = decode_triplet(*found.value());
    fallback_looked_up = true;
    updated = store_.update(Table::kTriplets, key, triplet_update);
  }
  if (!updated.ok()) return error_decision(updated);

  switch (outcome.kind) {
    case TripletOutcome::Kind::kNew:
    case TripletOutcome::Kind::kEarlyRetry:
      decision.action = Decision::Action::kGreylist;
      decision.seconds_left = outcome.seconds_left;
      decision.reason = outcome.kind == TripletOutcome::Kind::kNew
                            ? "new"
                            : "early-retry (" + std::to_string(outcome.seconds_left) + "s missing)";
      return decision;
    case TripletOutcome::Kind::kPassed:
      decision.action = Decision::Action::kPass;
      decision.reason = "triplet found";
      return decision;
    case TripletOutcome::Kind::kFirstPass:
      break;
  }

  decision.action = Decision::Action::kPass;
  // A retry that passed from another network of the same provider's pool.
  const bool via_pool = client.starts_with("pool:") && outcome.first_network != 0 &&
                        outcome.first_network != network;
  decision.reason = via_pool ? "pool (" + client.substr(5) + ")" : "triplet found";
  decision.delayed_seconds = now - outcome.first_seen;
  count_first_pass(request, now, decision);
  return decision;
}

void Greylister::count_first_pass(const Request& request, EpochSeconds now,
                                  Decision& decision) const {
  const std::uint32_t client_threshold = config_.auto_whitelist_clients;
  if (client_threshold > 0) {
    // postgrey counts a client's first successful retry of each triplet, at
    // most once an hour, towards auto-whitelisting.
    bool reached = false;
    const Status counted = store_.update(
        Table::kClients, client_key(request),
        [&](std::optional<std::string>& value) -> UpdateOutcome {
          reached = false;
          auto record = value ? decode_client(*value) : std::nullopt;
          if (record && now < record->last_seen + kLastSeenRefreshSeconds &&
              record->last_seen <= now) {
            return {};
          }
          if (!record) record = ClientRecord{};
          record->deliveries += 1;
          record->last_seen = now;
          reached = record->deliveries == client_threshold;
          value = encode_client(*record);
          return {UpdateOutcome::Verdict::kWrite, client_expires_at(*record, config_)};
        });
    if (!counted.ok()) {
      decision.warning = "client AWL count failed: " + counted.message();
    } else {
      decision.client_newly_whitelisted = reached;
    }
  }

  const std::uint32_t domain_threshold = config_.auto_whitelist_domains;
  const std::string key = domain_threshold > 0 ? domain_key(request) : std::string();
  if (key.empty()) return;
  const std::uint64_t sender = record_hash(normalize_sender(request.sender), config_);
  const Status counted = store_.update(
      Table::kClients, key, [&](std::optional<std::string>& value) -> UpdateOutcome {
        auto record = value ? decode_domain(*value) : std::nullopt;
        if (!record) record = DomainRecord{};
        auto& senders = record->sender_hashes;
        if (std::find(senders.begin(), senders.end(), sender) == senders.end() &&
            senders.size() < DomainRecord::kMaxSenders) {
          senders.push_back(sender);
        }
        record->last_seen = now;
        value = encode_domain(*record);
        return {UpdateOutcome::Verdict::kWrite, domain_expires_at(*record, config_)};
      });
  if (!counted.ok()) decision.warning = "domain AWL count failed: " + counted.message();
}

}  // namespace greylist
