// Greylister: the greylisting decision, shared by every front end.
//
// Logic over a Store, a Clock and an optional Whitelist: no sockets, no
// threads of its own. The triplet rule itself is change_triplet()
// (triplet_state.h); the keys are key_layout.h's. Thread-safe: decide() may
// run on many threads at once; each triplet's read-modify-write is atomic in
// the store.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/decision_observer.h"
#include "greylist/decision_trace.h"
#include "greylist/greylist_config.h"
#include "greylist/key_layout.h"
#include "greylist/registered_domains.h"
#include "greylist/request.h"
#include "greylist/store.h"
#include "greylist/whitelist.h"

namespace greylist {

class Greylister {
 public:
  // `store`, `clock` and `domains` must outlive the Greylister. Without
  // `domains` (nullptr), --pool-by-domain has no effect.
  Greylister(GreylistConfig config, Store& store, const Clock& clock,
             const RegisteredDomains* domains = nullptr);

  // Replaces the static whitelist (nullptr = none); safe while decide() runs
  // on other threads (SIGHUP reload).
  void set_whitelist(std::shared_ptr<const Whitelist> whitelist);

  // Every decision is reported to `observer` (nullptr = none). Not
  // thread-safe: set it before decide() is called.
  void set_observer(DecisionObserver* observer) { observer_ = observer; }

  // Decides one recipient, in this order: static whitelist, client
  // auto-whitelist, sender-domain auto-whitelist, then the triplet's state
  // change (change_triplet(), triplet_state.h). Never throws; a store
  // failure gives Action::kError, Reason::kStoreError with the store's
  // message as detail.
  Decision decide(const Request& request) const;

  // The same steps as decide(), at `now`, against `view` instead of the
  // Greylister's store, each step reported to `trace`; the observer is not
  // told. With a DryRunStore (dry_run_store.h) as view nothing is written:
  // greylistctl whitelist-check. Never throws.
  Decision decide_traced(const Request& request, EpochSeconds now, Store& view,
                         DecisionTrace& trace) const;

  // The request's keys in the store (key_layout.h), for tools and tests.
  const RecordKeys& keys() const { return keys_; }
  std::string triplet_key(const Request& request) const { return keys_.triplet_key(request); }
  std::string client_key(const Request& request) const { return keys_.client_key(request); }
  std::string domain_key(const Request& request) const { return keys_.domain_key(request); }
  std::string triplet_client(const Request& request) const {
    return keys_.triplet_client(request);
  }

  const GreylistConfig& config() const { return config_; }

 private:
  struct Run;  // one decision: request, time, store, trace
  Decision run(const Run& run) const;
  Decision run_or_throw(const Run& run) const;
  std::optional<Decision> whitelist_step(const Run& run) const;
  std::optional<Decision> client_awl_step(const Run& run, std::string& warning) const;
  std::optional<Decision> domain_awl_step(const Run& run, std::string& warning) const;
  Decision triplet_step(const Run& run) const;
  // First pass of a triplet: count it towards both auto-whitelists.
  void count_first_pass(const Run& run, Decision& decision) const;

  GreylistConfig config_;
  RecordKeys keys_;
  Store& store_;
  const Clock& clock_;
  DecisionObserver* observer_ = nullptr;
  std::shared_ptr<const Whitelist> whitelist_;  // accessed with atomic_load/store
};

}  // namespace greylist
