// DecisionExplainer: what Greylister::decide() would answer for a request
// now, and why, computed from the stored records without writing anything
// (decide() records the triplet and counts auto-whitelists; this never
// does). For greylistctl whitelist-check.
//
// It follows decide()'s order: static whitelist, client auto-whitelist,
// sender-domain auto-whitelist, then the triplet. Keys come from the
// Greylister itself (triplet_key() and friends), so --privacy,
// --lookup-by-host and --pool-by-domain are applied exactly as the daemon
// applies them. Thread-safe if the store is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/greylister.h"
#include "greylist/request.h"
#include "greylist/status.h"
#include "greylist/store.h"
#include "greylist/whitelist.h"

namespace greylist {

struct Explanation {
  Decision::Action action = Decision::Action::kError;
  // The reason decide() would log: "client whitelist (whitelist_clients:3
  // .example.com)", "client AWL", "domain AWL", "new", "early-retry (12s
  // missing)", "retry window expired", "triplet found", "pool (example.com)".
  std::string reason;
  std::int64_t seconds_left = 0;  // greylist: until a retry would pass
  // kPass on the first pass after the delay: the delay the header would show.
  std::int64_t delayed_seconds = 0;
  // One "name: finding" line per check made, in the daemon's order.
  std::vector<std::string> checks;
};

class DecisionExplainer {
 public:
  // All three must outlive the explainer; whitelist may be null (none).
  DecisionExplainer(const Greylister& greylister, Store& store, const Whitelist* whitelist);

  // Reads only. A store error is returned as it is.
  Result<Explanation> explain(const Request& request, EpochSeconds now) const;

 private:
  const Greylister& greylister_;
  Store& store_;
  const Whitelist* whitelist_;
};

}  // namespace greylist
