#include "tools/decision_explainer.h"

#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "tools/ctl_output.h"

namespace greylist {
namespace {

std::string seconds(std::int64_t n) { return std::to_string(n) + " s"; }

}  // namespace

DecisionExplainer::DecisionExplainer(const Greylister& greylister, Store& store,
                                     const Whitelist* whitelist)
    : greylister_(greylister), store_(store), whitelist_(whitelist) {}

Result<Explanation> DecisionExplainer::explain(const Request& request, EpochSeconds now) const {
  const GreylistConfig& config = greylister_.config();
  Explanation out;

  if (whitelist_ == nullptr) {
    out.checks.push_back("static whitelist: none loaded");
  } else if (auto match = whitelist_->match(request)) {
    out.action = Decision::Action::kWhitelisted;
    out.reason = match->rule.empty() ? match->reason : match->reason + " (" + match->rule + ")";
    out.checks.push_back("static whitelist: " + out.reason);
    return out;
  } else {
    out.checks.push_back("static whitelist: no match");
  }

  if (config.auto_whitelist_clients == 0) {
    out.checks.push_back("client AWL: off");
  } else {
    auto found = store_.get(Table::kClients, greylister_.client_key(request));
    if (!found.ok()) return found.status();
    const auto record = found.value() ? decode_client(*found.value()) : std::nullopt;
    if (!record) {
      out.checks.push_back("client AWL: " + client_network(request.client_address, config) +
                           ": no successful retry counted");
    } else {
      out.checks.push_back("client AWL: " + client_network(request.client_address, config) + ": " +
                           std::to_string(record->deliveries) + " of " +
                           std::to_string(config.auto_whitelist_clients) +
                           " successful retries, last " + iso8601(record->last_seen));
      if (record->deliveries >= config.auto_whitelist_clients) {
        out.action = Decision::Action::kWhitelisted;
        out.reason = "client AWL";
        return out;
      }
    }
  }

  if (config.auto_whitelist_domains == 0) {
    out.checks.push_back("domain AWL: off");
  } else if (const std::string key = greylister_.domain_key(request); key.empty()) {
    out.checks.push_back("domain AWL: the sender has no domain");
  } else {
    auto found = store_.get(Table::kClients, key);
    if (!found.ok()) return found.status();
    const auto record = found.value() ? decode_domain(*found.value()) : std::nullopt;
    const std::string domain(address_domain(normalize_sender(request.sender)));
    const auto senders = record ? record->sender_hashes.size() : 0;
    out.checks.push_back("domain AWL: " + domain + " from " +
                         client_network(request.client_address, config) + ": " +
                         std::to_string(senders) + " of " +
                         std::to_string(config.auto_whitelist_domains) + " senders passed" +
                         (record ? ", last " + iso8601(record->last_seen) : std::string()));
    if (record && senders >= config.auto_whitelist_domains) {
      out.action = Decision::Action::kWhitelisted;
      out.reason = "domain AWL";
      return out;
    }
  }

  const std::string client = greylister_.triplet_client(request);
  auto found = store_.get(Table::kTriplets, greylister_.triplet_key(request));
  if (!found.ok()) return found.status();
  const auto stored = found.value() ? decode_triplet(*found.value()) : std::nullopt;
  const std::string triplet = "triplet (" + client + ", " + normalize_sender(request.sender) +
                              ", " + normalize_recipient(request.recipient) + ")";
  // The same steps as decide(), on a copy.
  TripletRecord record{now, now, false, 0};
  bool restarted = false;
  if (!stored) {
    out.checks.push_back(triplet + ": " +
                         (found.value() ? "undecodable, treated as new" : "not seen yet"));
  } else {
    record = *stored;
    out.checks.push_back(triplet + ": first seen " + iso8601(record.first_seen) + ", last seen " +
                         iso8601(record.last_seen) + ", " + (record.passed ? "passed" : "waiting"));
    if (record.first_seen > now) record.first_seen = now;
    if (!record.passed && now - record.first_seen > config.retry_window) {
      out.checks.push_back("retry window: " + seconds(config.retry_window) +
                           " passed since it was first seen: it starts over");
      record = TripletRecord{now, now, false, 0};
      restarted = true;
    }
  }
  const std::int64_t left = config.delay - (now - record.first_seen);
  if (left > 0) {
    out.action = Decision::Action::kGreylist;
    out.seconds_left = left;
    if (now == record.first_seen) {
      out.reason = restarted ? "new (retry window expired)" : "new";
    } else {
      out.reason = "early-retry (" + std::to_string(left) + "s missing)";
    }
    return out;
  }
  out.action = Decision::Action::kPass;
  if (record.passed) {
    out.reason = "triplet found";
    return out;
  }
  const std::uint64_t network = record_hash(client_network(request.client_address, config), config);
  const bool via_pool = client.starts_with("pool:") && record.first_network != 0 &&
                        record.first_network != network;
  out.reason = via_pool ? "pool (" + client.substr(5) + ")" : "triplet found";
  out.delayed_seconds = now - record.first_seen;
  out.checks.push_back("first pass after the delay: the header would say " +
                       std::to_string(out.delayed_seconds) + " seconds");
  return out;
}

}  // namespace greylist
