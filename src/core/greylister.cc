#include "greylist/greylister.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

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

// What the triplet update found; recomputed on every call of the update
// function, since a store may call it again after a lock conflict.
struct TripletOutcome {
  enum class Kind { kNew, kEarlyRetry, kFirstPass, kPassed } kind = Kind::kNew;
  EpochSeconds first_seen = 0;
  std::int64_t seconds_left = 0;
};

}  // namespace

Greylister::Greylister(GreylistConfig config, Store& store, const Clock& clock)
    : config_(std::move(config)), store_(store), clock_(clock) {}

void Greylister::set_whitelist(std::shared_ptr<const Whitelist> whitelist) {
  std::atomic_store(&whitelist_, std::move(whitelist));
}

std::string Greylister::triplet_key(const Request& request) const {
  std::string key = encode_triplet_key(client_network(request.client_address, config_),
                                       normalize_sender(request.sender),
                                       normalize_recipient(request.recipient));
  return config_.privacy ? keyed_hash("t1h:", key, config_.privacy_key) : key;
}

std::string Greylister::client_key(const Request& request) const {
  std::string key = encode_client_key(client_network(request.client_address, config_));
  return config_.privacy ? keyed_hash("c1h:", key, config_.privacy_key) : key;
}

Decision Greylister::decide(const Request& request) const {
  try {
    return decide_or_throw(request, clock_.now());
  } catch (const std::exception& e) {
    return error_decision(Status::IoError(std::string("internal error: ") + e.what()));
  } catch (...) {
    return error_decision(Status::IoError("internal error"));
  }
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

  const std::uint32_t awl_threshold = config_.auto_whitelist_clients;
  const std::string client = awl_threshold > 0 ? client_key(request) : std::string();
  if (awl_threshold > 0) {
    auto found = store_.get(Table::kClients, client);
    if (!found.ok()) return error_decision(found.status());
    const auto record = found.value() ? decode_client(*found.value()) : std::nullopt;
    if (record && record->deliveries >= awl_threshold) {
      if (now >= record->last_seen + kLastSeenRefreshSeconds || record->last_seen > now) {
        const Status refreshed = store_.update(
            Table::kClients, client, [&](std::optional<std::string>& value) -> UpdateOutcome {
              auto current = value ? decode_client(*value) : std::nullopt;
              if (!current) return {};
              current->last_seen = now;
              value = encode_client(*current);
              return {UpdateOutcome::Verdict::kWrite, client_expires_at(*current, config_)};
            });
        if (!refreshed.ok()) decision.warning = "client AWL refresh failed: " + refreshed.message();
      }
      decision.action = Decision::Action::kWhitelisted;
      decision.reason = "client AWL";
      return decision;
    }
  }

  TripletOutcome outcome;
  const Status updated = store_.update(
      Table::kTriplets, triplet_key(request),
      [&](std::optional<std::string>& value) -> UpdateOutcome {
        outcome = TripletOutcome{};
        // An entry we cannot decode (damaged, or from a newer version) is
        // treated as absent: greylisting once more is the safe answer.
        auto record = value ? decode_triplet(*value) : std::nullopt;
        bool write = false;
        if (!record) {
          record = TripletRecord{now, now, false};
          write = true;
        } else {
          if (record->first_seen > now) {  // clock went back, or a bad import
            record->first_seen = now;
            write = true;
          }
          if (!record->passed && now - record->first_seen > config_.retry_window) {
            record = TripletRecord{now, now, false};
            write = true;
          }
        }
        outcome.first_seen = record->first_seen;
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
      });
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
  decision.reason = "triplet found";
  decision.delayed_seconds = now - outcome.first_seen;
  if (awl_threshold == 0) return decision;

  // postgrey counts a client's first successful retry of each triplet, at
  // most once an hour, towards auto-whitelisting.
  bool reached = false;
  const Status counted = store_.update(
      Table::kClients, client, [&](std::optional<std::string>& value) -> UpdateOutcome {
        reached = false;
        auto record = value ? decode_client(*value) : std::nullopt;
        if (record && now < record->last_seen + kLastSeenRefreshSeconds &&
            record->last_seen <= now) {
          return {};
        }
        if (!record) record = ClientRecord{};
        record->deliveries += 1;
        record->last_seen = now;
        reached = record->deliveries == awl_threshold;
        value = encode_client(*record);
        return {UpdateOutcome::Verdict::kWrite, client_expires_at(*record, config_)};
      });
  if (!counted.ok()) {
    decision.warning = "client AWL count failed: " + counted.message();
  } else {
    decision.client_newly_whitelisted = reached;
  }
  return decision;
}

}  // namespace greylist
