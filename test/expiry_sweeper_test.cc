#include "greylist/expiry_sweeper.h"

#include <doctest/doctest.h>

#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/failing_store.h"
#include "support/fake_clock.h"

using namespace greylist;
using greylist::testing::FakeClock;

namespace {
ExpirySweeper::Step sweep_all(ExpirySweeper& sweeper, std::size_t batch) {
  ExpirySweeper::Step total;
  for (int i = 0; i < 10000; ++i) {  // bounded
    auto step = sweeper.step(batch);
    REQUIRE(step.ok());
    total.scanned += step.value().scanned;
    total.erased += step.value().erased;
    total.undecodable += step.value().undecodable;
    total.newer_kept += step.value().newer_kept;
    if (step.value().pass_finished) return total;
  }
  FAIL("sweep never finished");
  return total;
}
}  // namespace

TEST_SUITE("expiry_sweeper") {

TEST_CASE("a rule's autowhite longer than --max-age keeps passed triplets, nothing else") {
  MemoryStore store;
  FakeClock clock(1'000'000'000);
  GreylistConfig config;
  const EpochSeconds now = clock.now();
  const std::int64_t autowhite = config.max_age + 10 * 86400;
  store.put(Table::kTriplets, "t-passed", encode_triplet({0, now - config.max_age - 5, true}), 0);
  store.put(Table::kTriplets, "t-passed-older", encode_triplet({0, now - autowhite, true}), 0);
  store.put(Table::kClients, "c-old", encode_client({9, now - config.max_age - 5}), 0);
  auto rules = RuleSet::parse("racl greylist rcpt @slow.test autowhite 45d\n"
                              "racl greylist rcpt @fast.test autowhite 1d\n", "rules");
  REQUIRE(rules.ok());
  CHECK(rules.value()->longest_autowhite() == std::chrono::seconds(autowhite));
  std::shared_ptr<const RuleSet> current = rules.value();
  ExpirySweeper sweeper(config, store, clock, [&current] { return current; });
  CHECK(sweep_all(sweeper, 10).erased == 2);
  CHECK(store.get(Table::kTriplets, "t-passed").value());  // kept for the 45d rule
  CHECK_FALSE(store.get(Table::kTriplets, "t-passed-older").value());
  CHECK_FALSE(store.get(Table::kClients, "c-old").value());  // the clients keep --max-age
  // The rules asked at each step: without them --max-age again.
  current = nullptr;
  CHECK(sweep_all(sweeper, 10).erased == 1);
  CHECK_FALSE(store.get(Table::kTriplets, "t-passed").value());
}

TEST_CASE("removes exactly the expired entries of both tables, in small batches") {
  MemoryStore store;
  FakeClock clock(1'000'000'000);
  GreylistConfig config;
  const EpochSeconds now = clock.now();
  // Unpassed: expire when the retry window is over.
  store.put(Table::kTriplets, "t-unpassed-old", encode_triplet({now - config.retry_window, now, false}), 0);
  store.put(Table::kTriplets, "t-unpassed-young", encode_triplet({now - config.retry_window + 1, now, false}), 0);
  // Passed: expire max_age after last seen.
  store.put(Table::kTriplets, "t-passed-old", encode_triplet({0, now - config.max_age, true}), 0);
  store.put(Table::kTriplets, "t-passed-young", encode_triplet({0, now - config.max_age + 1, true}), 0);
  store.put(Table::kTriplets, "t-garbage", "???", 0);
  store.put(Table::kClients, "c-old", encode_client({9, now - config.max_age}), 0);
  store.put(Table::kClients, "c-young", encode_client({9, now - 10}), 0);
  for (int i = 0; i < 25; ++i) {
    store.put(Table::kTriplets, "t-bulk-" + std::to_string(i), encode_triplet({now, now, false}), 0);
  }

  ExpirySweeper sweeper(config, store, clock);
  const auto total = sweep_all(sweeper, 4);
  CHECK(total.erased == 3);
  CHECK(total.undecodable == 1);
  CHECK(total.scanned == 32);
  CHECK_FALSE(store.get(Table::kTriplets, "t-unpassed-old").value());
  CHECK(store.get(Table::kTriplets, "t-unpassed-young").value());
  CHECK_FALSE(store.get(Table::kTriplets, "t-passed-old").value());
  CHECK(store.get(Table::kTriplets, "t-passed-young").value());
  CHECK_FALSE(store.get(Table::kClients, "c-old").value());
  CHECK(store.get(Table::kClients, "c-young").value());
  CHECK(store.count(Table::kTriplets).value() == 27);

  // A second pass finds nothing more.
  CHECK(sweep_all(sweeper, 4).erased == 0);
}

TEST_CASE("entries of a newer format version are kept and counted; damaged ones removed") {
  // Issue 15: after a downgrade, the sweep deleted a newer release's entries
  // as undecodable. Hand-written entries of version N+1 (and beyond).
  MemoryStore store;
  FakeClock clock(1'000'000'000);
  GreylistConfig config;
  const std::string newer_triplet = std::string(1, kTripletRecordVersion2 + 1) + "future layout";
  const std::string newer_client = std::string(1, kRecordVersion1 + 1) + std::string(40, '\x07');
  store.put(Table::kTriplets, "t-newer", newer_triplet, 0);
  store.put(Table::kTriplets, "t-much-newer",
            std::string(1, static_cast<char>(kTripletRecordVersion2 + kNewerVersionsKept)), 0);
  store.put(Table::kClients, "c-newer", newer_client, 0);
  // Damaged: a known version cut short, a version byte no release uses, empty.
  store.put(Table::kTriplets, "t-short", encode_triplet({1, 2, true}).substr(0, 9), 0);
  store.put(Table::kTriplets, "t-high-bit", std::string(1, '\x95') + "xx", 0);
  store.put(Table::kTriplets, "t-too-far",
            std::string(1, static_cast<char>(kTripletRecordVersion2 + kNewerVersionsKept + 1)), 0);
  store.put(Table::kTriplets, "t-empty", "", 0);
  store.put(Table::kClients, "c-short", encode_client({1, 2}).substr(0, 5), 0);

  ExpirySweeper sweeper(config, store, clock);
  const auto first = sweep_all(sweeper, 3);
  CHECK(first.newer_kept == 3);
  CHECK(first.undecodable == 5);
  CHECK(store.get(Table::kTriplets, "t-newer").value() == newer_triplet);
  CHECK(store.get(Table::kTriplets, "t-much-newer").value());
  CHECK(store.get(Table::kClients, "c-newer").value() == newer_client);
  for (const char* damaged : {"t-short", "t-high-bit", "t-too-far", "t-empty"}) {
    CAPTURE(damaged);
    CHECK_FALSE(store.get(Table::kTriplets, damaged).value());
  }
  CHECK_FALSE(store.get(Table::kClients, "c-short").value());
  // Every pass finds them again, and keeps them again, long after any lifetime.
  clock.advance(config.max_age * 10);
  const auto later = sweep_all(sweeper, 3);
  CHECK(later.newer_kept == 3);
  CHECK(later.undecodable == 0);
  CHECK(store.count(Table::kTriplets).value() == 2);
}

TEST_CASE("a store error keeps the position and is returned") {
  MemoryStore memory;
  greylist::testing::FailingStore store(memory);
  FakeClock clock;
  ExpirySweeper sweeper(GreylistConfig{}, store, clock);
  store.fail_reads = true;
  CHECK_FALSE(sweeper.step(10).ok());
  store.fail_reads = false;
  CHECK(sweeper.step(10).ok());
}

}  // TEST_SUITE
