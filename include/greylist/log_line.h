// postgrey-compatible decision log lines and safe rendering of untrusted text.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/decision.h"
#include "greylist/request.h"

namespace greylist {

// `text` with every byte outside printable ASCII written as \xHH (and '\\'
// as "\\\\"), cut to `max_bytes` of input with "..." appended when cut.
std::string printable(std::string_view text, std::size_t max_bytes = 256);

// "[QUEUEID: ]action=greylist, reason=new, client_name=..., client_address=...,
// sender=..., recipient=..." as postgrey logs it: empty attributes left out,
// values made printable, `delay=N` added on the first pass, `rule=FILE:LINE`
// (or "FILE:LINE (ID)") when a rule decided or its options applied
// (Decision::rule): "action=reject, reason=rule blacklist, rule=rules:4
// (spam), client_name=...", the rule named once.
std::string decision_log_line(const Request& request, const Decision& decision);

// "whitelisted: NAME[ADDRESS]", or "whitelisted: ADDRESS" for a client
// without a verified name (empty or "unknown"); values made printable.
std::string whitelisted_log_line(const Request& request);

// One line a front end logs for a decision.
struct DecisionLogEntry {
  enum class Kind {
    kDecision,      // info, never suppressed: the decision line, "whitelisted: ..."
    kWarning,       // warning, rate-limited like kStoreFailure: Decision::warning
    kStoreFailure,  // error, at most one per kStoreFailureLogInterval (with the
                    // count of those suppressed): "greylist store failed,
                    // answering by --on-error: <error>"
  };
  Kind kind = Kind::kDecision;
  std::string message;  // printable, one line
};
inline constexpr std::chrono::seconds kStoreFailureLogInterval{10};

// Everything both front ends log for `decision` of `request`, in order: the
// decision line, the warning, the "whitelisted" line, the store failure.
std::vector<DecisionLogEntry> decision_log_entries(const Request& request,
                                                   const Decision& decision);

}  // namespace greylist
