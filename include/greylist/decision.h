// Decision: what the core answers for one Request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace greylist {

struct Decision {
  enum class Action {
    kPass,         // triplet known and past its delay
    kGreylist,     // temporarily reject (new triplet, early retry, expired retry window)
    kWhitelisted,  // a static whitelist or the client auto-whitelist matched
    kError,        // the store failed; the front end applies --on-error
  };

  Action action = Action::kError;
  // postgrey's reason text: "new", "early-retry (12s missing)", "triplet found",
  // "client whitelist", "recipient whitelist", "client AWL", or the store error.
  std::string reason;
  // kGreylist: seconds until a retry would pass (>= 1).
  std::int64_t seconds_left = 0;
  // kPass: set only on the first pass after the triplet was delayed, with the
  // delay it suffered (seconds). Front ends add the X-Greylist header then.
  std::optional<std::int64_t> delayed_seconds;
  // Set when this decision made the client reach the auto-whitelist threshold.
  bool client_newly_whitelisted = false;
  // A problem that did not change the answer (e.g. the auto-whitelist
  // counter could not be written); front ends log it as a warning.
  std::string warning;

  bool defers() const { return action == Action::kGreylist; }
};

// "pass", "greylist", "pass" (whitelisted) or "error": postgrey's action word.
const char* action_log_word(Decision::Action action);

}  // namespace greylist
