// Clock: the core's only source of time.
//
// The core never reads the system time itself, so tests drive it with a
// FakeClock (test/support) and never sleep. Times are whole seconds since the
// Unix epoch, as stored in the database.
#pragma once

#include <cstdint>

namespace greylist {

using EpochSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Current wall-clock time. Thread-safe.
  virtual EpochSeconds now() const = 0;
};

// Reads the system's real-time clock.
class SystemClock final : public Clock {
 public:
  EpochSeconds now() const override;
};

}  // namespace greylist
