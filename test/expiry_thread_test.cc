#include "daemon/expiry_thread.h"

#include <doctest/doctest.h>

#include <thread>

#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"

using namespace greylist;
using namespace std::chrono_literals;

TEST_SUITE("expiry_thread") {

TEST_CASE("sweeps in the background while the store stays usable, and stops promptly") {
  MemoryStore store;
  greylist::testing::FakeClock clock(2'000'000'000);
  GreylistConfig config;
  const EpochSeconds old = clock.now() - config.retry_window - 1;
  for (int i = 0; i < 1000; ++i) {
    store.put(Table::kTriplets, "t-old-" + std::to_string(i), encode_triplet({old, old, false}), 0);
    store.put(Table::kTriplets, "t-new-" + std::to_string(i),
              encode_triplet({clock.now(), clock.now(), false}), 0);
  }
  ExpiryPace pace;
  pace.batch = 100;
  pace.between_batches = 1ms;
  pace.between_passes = 3600s;
  ExpiryThread thread(config, store, clock, pace);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (store.count(Table::kTriplets).value() > 1000 && std::chrono::steady_clock::now() < deadline) {
    // Requests keep being served meanwhile.
    CHECK(store.get(Table::kTriplets, "t-new-1").ok());
    std::this_thread::sleep_for(1ms);
  }
  CHECK(store.count(Table::kTriplets).value() == 1000);
  CHECK_FALSE(store.get(Table::kTriplets, "t-old-7").value());
  CHECK(store.get(Table::kTriplets, "t-new-7").value());
  // Resting for an hour between passes, it still stops at once.
  const auto started = std::chrono::steady_clock::now();
  thread.stop();
  CHECK(std::chrono::steady_clock::now() - started < 1s);
}

}  // TEST_SUITE
