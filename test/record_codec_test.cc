#include "greylist/record_codec.h"

#include <doctest/doctest.h>

using namespace greylist;

TEST_SUITE("record_codec") {

TEST_CASE("triplet keys are unambiguous whatever the addresses contain") {
  // With a plain "net/sender/rcpt" join these two would collide.
  CHECK(encode_triplet_key("1.2.3.0", "a/b@x", "c@y") !=
        encode_triplet_key("1.2.3.0", "a", "b@x/c@y"));
  CHECK(encode_triplet_key("1.2.3.0", "", "r@y") == "t1:7:1.2.3.00:3:r@y");
  CHECK(encode_client_key("1.2.3.0") == "c1:1.2.3.0");
}

TEST_CASE("records round-trip, including large and negative times") {
  for (const TripletRecord r : {TripletRecord{1, 2, false}, TripletRecord{1700000000, 1800000000, true},
                                TripletRecord{-5, 0, false}, TripletRecord{INT64_MAX, INT64_MIN, true}}) {
    const auto decoded = decode_triplet(encode_triplet(r));
    REQUIRE(decoded);
    CHECK(decoded->first_seen == r.first_seen);
    CHECK(decoded->last_seen == r.last_seen);
    CHECK(decoded->passed == r.passed);
  }
  const auto c = decode_client(encode_client({4000000000u, 1700000123}));
  REQUIRE(c);
  CHECK(c->deliveries == 4000000000u);
  CHECK(c->last_seen == 1700000123);
}

TEST_CASE("damaged or foreign values are rejected, not misread") {
  std::string good = encode_triplet({1, 2, true});
  CHECK_FALSE(decode_triplet(""));
  CHECK_FALSE(decode_triplet(good.substr(0, good.size() - 1)));
  CHECK_FALSE(decode_triplet(good + "x"));
  std::string wrong_version = good;
  wrong_version[0] = 2;
  CHECK_FALSE(decode_triplet(wrong_version));
  std::string bad_flag = good;
  bad_flag.back() = 7;
  CHECK_FALSE(decode_triplet(bad_flag));
  CHECK_FALSE(decode_triplet("1795590188,1795590799"));  // postgrey's text format
  CHECK_FALSE(decode_client(good));
}

TEST_CASE("expiry times") {
  GreylistConfig config;
  CHECK(triplet_expires_at({1000, 1000, false}, config) == 1000 + config.retry_window);
  CHECK(triplet_expires_at({1000, 5000, true}, config) == 5000 + config.max_age);
  CHECK(client_expires_at({3, 7000}, config) == 7000 + config.max_age);
}

}  // TEST_SUITE
