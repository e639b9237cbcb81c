// FakeClock: a Clock the test sets and advances; never sleeps.
#pragma once

#include <atomic>

#include "greylist/clock.h"

namespace greylist::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(EpochSeconds start = 1'700'000'000) : now_(start) {}
  EpochSeconds now() const override { return now_.load(); }
  void set(EpochSeconds t) { now_.store(t); }
  void advance(EpochSeconds seconds) { now_.fetch_add(seconds); }

 private:
  std::atomic<EpochSeconds> now_;
};

}  // namespace greylist::testing
