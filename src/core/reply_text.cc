#include "greylist/reply_text.h"

#include <cstdio>
#include <ctime>

namespace greylist {
namespace {

// Replaces the first occurrence only, as postgrey does.
void replace_first(std::string& text, std::string_view placeholder, std::string_view value) {
  const auto at = text.find(placeholder);
  if (at != std::string::npos) text.replace(at, placeholder.size(), value);
}

// Reply and header text must stay one line of printable text whatever the
// peer put in the address.
std::string without_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return out;
}

std::string rfc5322_date(EpochSeconds now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  localtime_r(&t, &tm);
  const long offset_minutes = tm.tm_gmtoff / 60;
  const long abs_minutes = offset_minutes < 0 ? -offset_minutes : offset_minutes;
  char buffer[80];
  std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld (%s)",
                kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900,
                tm.tm_hour, tm.tm_min, tm.tm_sec, offset_minutes < 0 ? '-' : '+',
                abs_minutes / 60, abs_minutes % 60, tm.tm_zone != nullptr ? tm.tm_zone : "UTC");
  return buffer;
}

}  // namespace

std::string format_greylist_text(std::string_view text, std::int64_t seconds_left,
                                 std::string_view recipient) {
  std::string out = without_controls(text);
  replace_first(out, "%s", std::to_string(seconds_left));
  std::string_view domain = recipient;
  if (const auto at = recipient.rfind('@'); at != std::string_view::npos) {
    domain = recipient.substr(at + 1);
  }
  replace_first(out, "%r", without_controls(domain));
  return out;
}

std::string format_greylist_header(std::string_view header_template, std::int64_t delayed,
                                   std::string_view hostname, EpochSeconds now) {
  std::string out = without_controls(header_template);
  replace_first(out, "%t", std::to_string(delayed));
  replace_first(out, "%v", GREYLIST_VERSION);
  replace_first(out, "%h", without_controls(hostname));
  replace_first(out, "%d", rfc5322_date(now));
  return out;
}

std::pair<std::string, std::string> split_header(std::string_view header) {
  const auto colon = header.find(':');
  if (colon == std::string_view::npos) return {"X-Greylist", std::string(header)};
  std::string_view value = header.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {std::string(header.substr(0, colon)), std::string(value)};
}

}  // namespace greylist
