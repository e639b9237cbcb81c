// TripletState: the greylisting rule itself, the state change of one
// triplet: (stored entry, request's client network, now, settings) ->
// (outcome, entry to write). Pure: no store, no clock, no I/O; the
// Greylister calls it inside the store's update, greylistctl whitelist-check
// through the Greylister against a store that writes nothing.
#pragma once

#include <cstdint>
#include <optional>

#include "greylist/clock.h"
#include "greylist/greylist_config.h"
#include "greylist/record_codec.h"

namespace greylist {

// What is known of the stored triplet.
struct StoredTriplet {
  bool present = false;                 // a value is stored under the triplet's key
  std::optional<TripletRecord> record;  // it decoded; nullopt: absent or undecodable
  // The key's client part is a pool (--pool-by-domain). An absent pool key
  // falls back to the entry keyed by the client's network (written before
  // the option was on, or imported from postgrey): it is copied.
  bool pooled = false;
  bool network_entry_looked_up = false;
  std::optional<TripletRecord> network_entry;  // looked up: what it held, decoded
  // record_hash() of the request's client network (TripletRecord::first_network).
  std::uint64_t network = 0;
};

struct TripletChange {
  enum class Outcome {
    kLookUpNetworkEntry,  // pooled, nothing under the pool key: look up the
                          // network-keyed entry, then call again with it
    kNew,                 // greylist: first seen (or started over) now
    kEarlyRetry,          // greylist: seen before, the delay not over
    kFirstPass,           // pass: the first retry after the delay
    kPassed,              // pass: passed before
  };
  Outcome outcome = Outcome::kNew;
  std::int64_t seconds_left = 0;     // kNew, kEarlyRetry: until a retry passes (>= 1)
  EpochSeconds first_seen = 0;       // of the entry decided on
  std::uint64_t first_network = 0;   // of the entry decided on (0: not recorded)
  bool restarted = false;            // the retry window had run out: started over
  // A passed entry last seen max_age (a rule's autowhite) or more ago:
  // started over.
  bool aged_out = false;
  bool inherited = false;            // started from the network-keyed entry
  // A retry that passed from another network of the same pool (kFirstPass).
  bool via_other_network = false;
  std::optional<TripletRecord> write;  // the entry to write; nullopt: leave it
};

// An undecodable entry counts as absent (greylisting once more is the safe
// answer); a first-seen time in the future is set to now; an unpassed entry
// older than the retry window starts over, and a passed entry not seen for
// max_age (the entry's lifetime) too; a passed entry's last-seen time
// is refreshed at most every kLastSeenRefreshSeconds.
TripletChange change_triplet(const StoredTriplet& stored, EpochSeconds now,
                             const GreylistConfig& config);

}  // namespace greylist
