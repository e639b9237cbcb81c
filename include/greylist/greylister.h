// Greylister: the greylisting decision, shared by every front end.
//
// Pure logic over a Store, a Clock and an optional Whitelist: no sockets, no
// threads of its own. Thread-safe: decide() may run on many threads at once;
// each triplet's read-modify-write is atomic in the store.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/decision_observer.h"
#include "greylist/greylist_config.h"
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

  // Decides one recipient. Never throws; a store failure gives
  // Action::kError with the store's message as reason.
  Decision decide(const Request& request) const;

  // The triplet's key in the store (exposed for tools and tests).
  std::string triplet_key(const Request& request) const;
  // The client's key in the auto-whitelist table.
  std::string client_key(const Request& request) const;
  // The (client network, sender domain) key of the domain auto-whitelist;
  // empty for a sender without a domain (the null sender).
  std::string domain_key(const Request& request) const;
  // The client part of the triplet: "pool:<registered domain>" for a client
  // with a verified name under --pool-by-domain, else the client network.
  std::string triplet_client(const Request& request) const;

  const GreylistConfig& config() const { return config_; }

 private:
  Decision decide_or_throw(const Request& request, EpochSeconds now) const;
  // The triplet key of `request` with `client` as its client part.
  std::string triplet_key_for(const std::string& client, const Request& request) const;
  // First pass of a triplet: count it towards both auto-whitelists.
  void count_first_pass(const Request& request, EpochSeconds now, Decision& decision) const;

  GreylistConfig config_;
  Store& store_;
  const Clock& clock_;
  const RegisteredDomains* domains_;
  DecisionObserver* observer_ = nullptr;
  std::shared_ptr<const Whitelist> whitelist_;  // accessed with atomic_load/store
};

}  // namespace greylist
