// Durations of the rules file, as milter-greylist writes them: a number of
// seconds ("300"), or numbers with units s, m, h, d, w, one after the
// other ("30s", "15m", "2h", "3d", "1w", "1h30m"). Pure function.
#pragma once

#include <chrono>
#include <string_view>

#include "greylist/status.h"

namespace greylist::rules {

inline constexpr std::chrono::seconds kMaxDuration{366LL * 24 * 3600};

// InvalidArgument with the reason ("'5x': unknown unit 'x'...") for
// anything else, a unit without a number, or more than kMaxDuration.
Result<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace greylist::rules
