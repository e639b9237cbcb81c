// change_triplet: the greylisting rule as a pure function.
#include "greylist/triplet_state.h"

#include <doctest/doctest.h>

using namespace greylist;
using Outcome = TripletChange::Outcome;

namespace {

constexpr EpochSeconds kNow = 1'700'000'000;
constexpr std::uint64_t kNetwork = 42;

StoredTriplet stored(std::optional<TripletRecord> record) {
  StoredTriplet s;
  s.present = record.has_value();
  s.record = record;
  s.network = kNetwork;
  return s;
}

}  // namespace

TEST_SUITE("triplet_state") {

TEST_CASE("new, early retry, first pass, passed") {
  const GreylistConfig config;  // delay 300
  TripletChange c = change_triplet(stored(std::nullopt), kNow, config);
  CHECK(c.outcome == Outcome::kNew);
  CHECK(c.seconds_left == 300);
  REQUIRE(c.write);
  CHECK(c.write->first_seen == kNow);
  CHECK(c.write->first_network == kNetwork);

  const TripletRecord waiting{kNow - 100, kNow - 100, false, kNetwork};
  c = change_triplet(stored(waiting), kNow, config);
  CHECK(c.outcome == Outcome::kEarlyRetry);
  CHECK(c.seconds_left == 200);
  CHECK_FALSE(c.write);

  c = change_triplet(stored(waiting), kNow + 200, config);
  CHECK(c.outcome == Outcome::kFirstPass);
  REQUIRE(c.write);
  CHECK(c.write->passed);
  CHECK(c.write->last_seen == kNow + 200);
  CHECK_FALSE(c.via_other_network);

  const TripletRecord passed{kNow - 1000, kNow - 10, true, kNetwork};
  c = change_triplet(stored(passed), kNow, config);
  CHECK(c.outcome == Outcome::kPassed);
  CHECK_FALSE(c.write);  // last seen refreshed at most hourly
  c = change_triplet(stored(passed), kNow + kLastSeenRefreshSeconds, config);
  REQUIRE(c.write);
  CHECK(c.write->last_seen == kNow + kLastSeenRefreshSeconds);
}

TEST_CASE("the retry window, a future first-seen time, an undecodable entry") {
  const GreylistConfig config;
  const TripletRecord old{kNow - config.retry_window - 1, kNow - config.retry_window - 1, false, 7};
  TripletChange c = change_triplet(stored(old), kNow, config);
  CHECK(c.outcome == Outcome::kNew);
  CHECK(c.restarted);
  REQUIRE(c.write);
  CHECK(c.write->first_seen == kNow);

  c = change_triplet(stored(TripletRecord{kNow + 50, kNow + 50, false, kNetwork}), kNow, config);
  CHECK(c.outcome == Outcome::kNew);
  REQUIRE(c.write);
  CHECK(c.write->first_seen == kNow);

  StoredTriplet damaged = stored(std::nullopt);
  damaged.present = true;
  c = change_triplet(damaged, kNow, config);
  CHECK(c.outcome == Outcome::kNew);
  CHECK(c.write);
}

TEST_CASE("pool keying: the network-keyed entry, a pass from another network") {
  const GreylistConfig config;
  StoredTriplet pool = stored(std::nullopt);
  pool.pooled = true;
  TripletChange c = change_triplet(pool, kNow, config);
  CHECK(c.outcome == Outcome::kLookUpNetworkEntry);
  CHECK_FALSE(c.write);

  pool.network_entry_looked_up = true;
  pool.network_entry = TripletRecord{kNow - 400, kNow - 400, false, kNetwork};
  c = change_triplet(pool, kNow, config);
  CHECK(c.outcome == Outcome::kFirstPass);
  CHECK(c.inherited);
  REQUIRE(c.write);
  CHECK(c.write->first_seen == kNow - 400);

  pool.network_entry.reset();
  CHECK(change_triplet(pool, kNow, config).outcome == Outcome::kNew);

  StoredTriplet other = stored(TripletRecord{kNow - 400, kNow - 400, false, 99});
  other.pooled = true;
  c = change_triplet(other, kNow, config);
  CHECK(c.outcome == Outcome::kFirstPass);
  CHECK(c.via_other_network);
  other.pooled = false;
  CHECK_FALSE(change_triplet(other, kNow, config).via_other_network);
}

TEST_CASE("a passed entry not seen for max_age starts over, as if swept") {
  GreylistConfig config;
  config.max_age = 86400;  // a rule's autowhite 1d
  const TripletRecord passed{kNow - 90000, kNow - 86400, true, kNetwork};
  TripletChange c = change_triplet(stored(passed), kNow, config);
  CHECK(c.aged_out);
  CHECK(c.outcome == Outcome::kNew);
  REQUIRE(c.write);
  CHECK(c.write->first_seen == kNow);
  CHECK_FALSE(c.write->passed);
  c = change_triplet(stored(passed), kNow - 1, config);
  CHECK_FALSE(c.aged_out);
  CHECK(c.outcome == Outcome::kPassed);
}

}  // TEST_SUITE
