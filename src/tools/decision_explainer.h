// DecisionExplainer: what Greylister::decide() would answer for a request
// now, and why, for greylistctl whitelist-check.
//
// It runs the Greylister's own decision steps (Greylister::decide_traced)
// against a DryRunStore, so every rule, key and the pool fallback are the
// daemon's and nothing is written; it only adds the narration, one line per
// check the steps made. Thread-safe if the store is.
#pragma once

#include <string>
#include <vector>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/greylister.h"
#include "greylist/request.h"
#include "greylist/status.h"
#include "greylist/store.h"

namespace greylist {

struct Explanation {
  // The decision decide() would make (its warning and AWL flag computed as
  // if written). Its reason_text() is the reason the daemon would log.
  Decision decision;
  // One "name: finding" line per check made, in the daemon's order.
  std::vector<std::string> checks;
};

class DecisionExplainer {
 public:
  // Both must outlive the explainer. The Greylister's static whitelist
  // (set_whitelist) is the one consulted.
  DecisionExplainer(const Greylister& greylister, Store& store);

  // Reads only. `answers`: the DNS answers to the Greylister's
  // plan(request) queries (missing ones count as not listed). A store
  // error is returned as a Status with its message.
  Result<Explanation> explain(const Request& request, EpochSeconds now,
                              const DnsAnswers& answers = {}) const;

 private:
  const Greylister& greylister_;
  Store& store_;
};

}  // namespace greylist
