#include "greylist/triplet_state.h"

namespace greylist {
namespace {

// The entry the decision starts from, and whether it must be written even
// if nothing else changes.
struct Start {
  TripletRecord record;
  bool write = false;
};

Start starting_entry(const StoredTriplet& stored, EpochSeconds now, const GreylistConfig& config,
                     TripletChange& change) {
  const TripletRecord fresh{now, now, false, stored.network};
  std::optional<TripletRecord> record = stored.record;
  bool write = false;
  if (!stored.present && stored.network_entry) {
    record = stored.network_entry;
    change.inherited = true;
    write = true;
  }
  if (!record) return {fresh, true};
  if (record->first_seen > now) {  // clock went back, or a bad import
    record->first_seen = now;
    write = true;
  }
  if (!record->passed && now - record->first_seen > config.retry_window) {
    change.restarted = true;
    return {fresh, true};
  }
  // Past its lifetime but not swept yet (Berkeley DB sweeps now and then; a
  // rule's autowhite may be shorter than the --max-age the sweep uses).
  if (record->passed && now - record->last_seen >= config.max_age) {
    change.aged_out = true;
    return {fresh, true};
  }
  return {*record, write};
}

}  // namespace

TripletChange change_triplet(const StoredTriplet& stored, EpochSeconds now,
                             const GreylistConfig& config) {
  TripletChange change;
  if (!stored.present && stored.pooled && !stored.network_entry_looked_up) {
    change.outcome = TripletChange::Outcome::kLookUpNetworkEntry;
    return change;
  }
  auto [record, write] = starting_entry(stored, now, config, change);
  change.first_seen = record.first_seen;
  change.first_network = record.first_network;
  const std::int64_t left = config.delay - (now - record.first_seen);
  if (left > 0) {
    change.outcome = now == record.first_seen ? TripletChange::Outcome::kNew
                                              : TripletChange::Outcome::kEarlyRetry;
    change.seconds_left = left;
  } else if (!record.passed) {
    change.outcome = TripletChange::Outcome::kFirstPass;
    change.via_other_network = stored.pooled && record.first_network != 0 &&
                               record.first_network != stored.network;
    record.passed = true;
    record.last_seen = now;
    write = true;
  } else {
    change.outcome = TripletChange::Outcome::kPassed;
    if (now - record.last_seen >= kLastSeenRefreshSeconds || record.last_seen > now) {
      record.last_seen = now;
      write = true;
    }
  }
  if (write) change.write = record;
  return change;
}

}  // namespace greylist
