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

TEST_CASE("records round-trip, from 1970 to the end of year 9999") {
  for (const TripletRecord r : {TripletRecord{1, 2, false}, TripletRecord{1700000000, 1800000000, true},
                                TripletRecord{0, 0, false},
                                TripletRecord{253402300799, 253402300799, true}}) {
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
  wrong_version[0] = 9;
  CHECK_FALSE(decode_triplet(wrong_version));
  std::string v1_size_v2_tag = good.substr(0, 18);  // a v2 tag on a v1-sized value
  CHECK_FALSE(decode_triplet(v1_size_v2_tag));
  std::string bad_flag = good;
  bad_flag[17] = 7;
  CHECK_FALSE(decode_triplet(bad_flag));
  CHECK_FALSE(decode_triplet("1795590188,1795590799"));  // postgrey's text format
  CHECK_FALSE(decode_client(good));
}

// Regression (record_fuzzer): a damaged entry holding a time near INT64_MAX
// made triplet_expires_at() overflow, and one near INT64_MIN made the
// Greylister's "now - first_seen" overflow (undefined behaviour).
TEST_CASE("a time before 1970 or after 9999 is a damaged entry, not a record") {
  GreylistConfig config;
  for (const std::int64_t bad : {std::int64_t{-1}, std::int64_t{253402300800}, INT64_MAX - 5,
                                 INT64_MIN + 5}) {
    CAPTURE(bad);
    CHECK_FALSE(decode_triplet(encode_triplet({bad, 1700000000, false})));
    CHECK_FALSE(decode_triplet(encode_triplet({1700000000, bad, true})));
    CHECK_FALSE(decode_client(encode_client({3, bad})));
    CHECK_FALSE(decode_domain(encode_domain({bad, {1, 2}})));
    CHECK_FALSE(entry_expires_at(Table::kTriplets, "t1:", encode_triplet({bad, bad, false}), config));
    CHECK_FALSE(entry_expires_at(Table::kClients, "c1:x", encode_client({3, bad}), config));
  }
}

TEST_CASE("version 1 triplet records (no first network) still decode") {
  std::string v1 = encode_triplet({100, 200, true, 0}).substr(0, 18);
  v1[0] = 1;
  const auto decoded = decode_triplet(v1);
  REQUIRE(decoded);
  CHECK(decoded->first_seen == 100);
  CHECK(decoded->last_seen == 200);
  CHECK(decoded->passed);
  CHECK(decoded->first_network == 0);
  const auto v2 = decode_triplet(encode_triplet({1, 2, false, 0xdeadbeefcafef00dull}));
  REQUIRE(v2);
  CHECK(v2->first_network == 0xdeadbeefcafef00dull);
}

TEST_CASE("domain records: distinct sender hashes, bounded, strict decoding") {
  DomainRecord r;
  r.last_seen = 1234;
  r.sender_hashes = {1, 2, 3};
  const auto decoded = decode_domain(encode_domain(r));
  REQUIRE(decoded);
  CHECK(decoded->last_seen == 1234);
  CHECK(decoded->sender_hashes == std::vector<std::uint64_t>{1, 2, 3});
  DomainRecord many;
  many.sender_hashes.assign(40, 7);
  CHECK(decode_domain(encode_domain(many))->sender_hashes.size() == DomainRecord::kMaxSenders);
  std::string truncated = encode_domain(r);
  truncated.pop_back();
  CHECK_FALSE(decode_domain(truncated));
  CHECK_FALSE(decode_domain(encode_client({1, 2})));
  CHECK(encode_domain_key("1.2.3.0", "foo.test") == "d1:7:1.2.3.0foo.test");
  CHECK(pool_client("outlook.com") == "pool:outlook.com");
  CHECK(stable_hash("a") != stable_hash("b"));
  CHECK(stable_hash("a") == stable_hash("a"));
}

TEST_CASE("entry_expires_at dispatches on table and key") {
  GreylistConfig config;
  CHECK(entry_expires_at(Table::kTriplets, "t1:x", encode_triplet({10, 10, false}), config) ==
        10 + config.retry_window);
  CHECK(entry_expires_at(Table::kClients, "c1:1.2.3.0", encode_client({1, 50}), config) ==
        50 + config.max_age);
  DomainRecord d;
  d.last_seen = 70;
  CHECK(entry_expires_at(Table::kClients, "d1:7:1.2.3.0x.test", encode_domain(d), config) ==
        70 + config.max_age);
  CHECK_FALSE(entry_expires_at(Table::kClients, "d1:7:1.2.3.0x.test", encode_client({1, 50}), config));
  CHECK_FALSE(entry_expires_at(Table::kTriplets, "t1:x", "junk", config));
  CHECK(entry_expires_at(Table::kClients, "g1:1.2.3.0", encode_trap({40, 900}), config) == 900);
  CHECK(entry_expires_at(Table::kClients, "g1h:00", encode_trap({40, 900}), config) == 900);
  CHECK_FALSE(entry_expires_at(Table::kClients, "g1:1.2.3.0", encode_client({1, 50}), config));
  CHECK_FALSE(entry_expires_at(Table::kClients, "c1:1.2.3.0", encode_trap({40, 900}), config));
}

TEST_CASE("trap records: round trip, strict decoding") {
  const TrapRecord record{1'700'000'000, 1'700'086'400};
  const std::string bytes = encode_trap(record);
  CHECK(bytes.size() == 17);
  CHECK(bytes[0] == kRecordVersion1);
  const auto decoded = decode_trap(bytes);
  REQUIRE(decoded);
  CHECK(decoded->trapped_at == record.trapped_at);
  CHECK(decoded->hold_until == record.hold_until);
  CHECK_FALSE(decode_trap(bytes.substr(0, 16)));
  CHECK_FALSE(decode_trap(bytes + "x"));
  CHECK_FALSE(decode_trap(encode_trap({-1, 5})));
  std::string newer = bytes;
  newer[0] = 2;
  CHECK_FALSE(decode_trap(newer));
  CHECK(from_newer_release(Table::kClients, newer));
}

TEST_CASE("expiry times") {
  GreylistConfig config;
  CHECK(triplet_expires_at({1000, 1000, false}, config) == 1000 + config.retry_window);
  CHECK(triplet_expires_at({1000, 5000, true}, config) == 5000 + config.max_age);
  CHECK(client_expires_at({3, 7000}, config) == 7000 + config.max_age);
}

}  // TEST_SUITE
