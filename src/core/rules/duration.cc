#include "core/rules/duration.h"

#include <cstdint>
#include <string>

#include "greylist/log_line.h"

namespace greylist::rules {
namespace {

std::int64_t unit_seconds(char unit) {
  switch (unit) {
    case 's': return 1;
    case 'm': return 60;
    case 'h': return 3600;
    case 'd': return 86400;
    case 'w': return 7 * 86400;
    default: return 0;
  }
}

Status bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("bad duration '" + printable(text, 32) + "': " + why +
                                 " (write e.g. 300, 30s, 15m, 2h, 3d, 1w, 1h30m)");
}

}  // namespace

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return bad(text, "empty");
  const std::int64_t max = kMaxDuration.count();
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t digits_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      if (number > max) return bad(text, "longer than 366 days");
      ++i;
    }
    if (i == digits_start) return bad(text, "a unit without a number");
    std::int64_t factor = 1;
    if (i < text.size()) {
      factor = unit_seconds(text[i]);
      if (factor == 0) return bad(text, std::string("unknown unit '") + printable(text.substr(i, 1)) + "'");
      ++i;
    } else if (digits_start != 0) {
      return bad(text, "a number without a unit after the first");
    }
    if (number > (max - total) / factor) return bad(text, "longer than 366 days");
    total += number * factor;
  }
  return std::chrono::seconds(total);
}

}  // namespace greylist::rules
