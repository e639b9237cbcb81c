#include "greylist/expiry_sweeper.h"

#include <algorithm>

#include "greylist/record_codec.h"

namespace greylist {

ExpirySweeper::ExpirySweeper(const GreylistConfig& config, Store& store, const Clock& clock,
                             RulesSource rules)
    : config_(config), rules_(std::move(rules)), store_(store), clock_(clock) {}

ExpirySweeper::Verdict ExpirySweeper::judge(Table table, std::string_view key,
                                            std::string_view value, EpochSeconds now,
                                            const GreylistConfig& triplet_config) const {
  const GreylistConfig& config = table == Table::kTriplets ? triplet_config : config_;
  if (const auto expires_at = entry_expires_at(table, key, value, config)) {
    return now >= *expires_at ? Verdict::kExpired : Verdict::kLive;
  }
  return from_newer_release(table, value) ? Verdict::kNewer : Verdict::kDamaged;
}

Result<ExpirySweeper::Step> ExpirySweeper::step(std::size_t batch) {
  Step step;
  auto entries = store_.scan(table_, after_, batch);
  if (!entries.ok()) return entries.status();
  const EpochSeconds now = clock_.now();
  GreylistConfig triplet_config = config_;
  const auto rules = rules_ ? rules_() : nullptr;
  if (const auto autowhite = rules ? rules->longest_autowhite() : std::nullopt) {
    triplet_config.max_age = std::max(config_.max_age, autowhite->count());
  }
  for (const StoreEntry& entry : entries.value()) {
    ++step.scanned;
    const Verdict verdict = judge(table_, entry.key, entry.value, now, triplet_config);
    if (verdict == Verdict::kNewer) ++step.newer_kept;
    if (verdict == Verdict::kLive || verdict == Verdict::kNewer) continue;
    bool erased = false;
    const Status status = store_.update(
        table_, entry.key, [&](std::optional<std::string>& value) -> UpdateOutcome {
          const auto now_verdict =
              value ? judge(table_, entry.key, *value, now, triplet_config) : Verdict::kLive;
          erased = now_verdict == Verdict::kExpired || now_verdict == Verdict::kDamaged;
          if (!erased) return {};
          return {UpdateOutcome::Verdict::kErase, 0};
        });
    if (!status.ok()) return status;
    if (erased) ++(verdict == Verdict::kDamaged ? step.undecodable : step.erased);
  }
  if (entries.value().size() < batch) {
    // End of this table: the next step starts the other one from its beginning.
    after_.clear();
    step.pass_finished = table_ == Table::kClients;
    table_ = table_ == Table::kTriplets ? Table::kClients : Table::kTriplets;
  } else {
    after_ = entries.value().back().key;
  }
  return step;
}

}  // namespace greylist
