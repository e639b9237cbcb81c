// ExpirySweeper: forgets entries past their lifetime, a small batch at a time.
//
// Each step() scans at most `batch` entries from where the previous step
// stopped and erases the expired ones, re-checking each under Store::update
// so an entry refreshed meanwhile survives. Damaged entries are removed;
// entries a newer release wrote (after a downgrade) are kept and counted.
// Lifetimes are record_codec.h's under the daemon's settings, but a passed
// triplet is kept up to the longest `autowhite` of the rules in force when
// that is longer than --max-age (the decision itself forgets each triplet at
// its own lifetime: change_triplet()). Between steps the caller lets
// requests run: expiry never holds the store for more than one batch.
// Not thread-safe itself (one sweeper thread); the store it uses is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "greylist/clock.h"
#include "greylist/greylist_config.h"
#include "greylist/rule_set.h"
#include "greylist/status.h"
#include "greylist/store.h"

namespace greylist {

class ExpirySweeper {
 public:
  struct Step {
    std::size_t scanned = 0;
    std::size_t erased = 0;      // expired entries removed
    std::size_t undecodable = 0; // damaged entries (no known format), removed too
    // Entries of a newer format version (from_newer_release): kept.
    std::size_t newer_kept = 0;
    bool pass_finished = false;  // both tables were swept to the end
  };

  // The rules in force, asked once a step (Greylister::rules()).
  using RulesSource = std::function<std::shared_ptr<const RuleSet>()>;

  // `rules`: empty, or the source of the rules whose autowhite may keep a
  // passed triplet longer than config.max_age.
  ExpirySweeper(const GreylistConfig& config, Store& store, const Clock& clock,
                RulesSource rules = {});

  // One batch. On a store error the position is kept and the error returned.
  Result<Step> step(std::size_t batch);

  // The lifetimes (--max-age, --retry-window) of the next step on (SIGHUP);
  // call between steps, on the sweeper's thread.
  void set_config(const GreylistConfig& config) { config_ = config; }

 private:
  enum class Verdict { kLive, kExpired, kDamaged, kNewer };
  Verdict judge(Table table, std::string_view key, std::string_view value, EpochSeconds now,
               const GreylistConfig& triplet_config) const;

  GreylistConfig config_;
  RulesSource rules_;
  Store& store_;
  const Clock& clock_;
  Table table_ = Table::kTriplets;
  std::string after_;  // last key scanned in table_
};

}  // namespace greylist
