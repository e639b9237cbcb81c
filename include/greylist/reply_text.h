// Texts the front ends send: the greylist reply and the X-Greylist header.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "greylist/clock.h"

namespace greylist {

inline constexpr std::string_view kDefaultGreylistText =
    "Greylisted, see http://postgrey.schweikert.ch/help/%r.html";
inline constexpr std::string_view kDefaultHeaderTemplate =
    "X-Greylist: delayed %t seconds by greylist-milter-%v at %h; %d";

// --greylist-text with the first "%s" replaced by `seconds_left` and the
// first "%r" by the recipient's domain (postgrey's rule).
std::string format_greylist_text(std::string_view text, std::int64_t seconds_left,
                                 std::string_view recipient);

// --x-greylist-header with the first "%t" (delay seconds), "%v" (version),
// "%h" (host name) and "%d" (RFC 5322 date of `now`, local time) replaced.
std::string format_greylist_header(std::string_view header_template, std::int64_t delayed,
                                   std::string_view hostname, EpochSeconds now);

// The header split into name and value ("X-Greylist", "delayed ..."), for the
// milter's smfi_insheader. A template without ':' yields name "X-Greylist".
std::pair<std::string, std::string> split_header(std::string_view header);

}  // namespace greylist
