// DecisionObserver: told of every decision the core makes (metrics).
#pragma once

#include <chrono>

#include "greylist/decision.h"
#include "greylist/request.h"

namespace greylist {

class DecisionObserver {
 public:
  virtual ~DecisionObserver() = default;
  // Called on the deciding thread after each Greylister::decide, with the
  // time the decision took. Must be thread-safe, quick and must not throw.
  virtual void on_decision(const Request& request, const Decision& decision,
                           std::chrono::nanoseconds elapsed) noexcept = 0;
};

}  // namespace greylist
