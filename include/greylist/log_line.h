// postgrey-compatible decision log lines and safe rendering of untrusted text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "greylist/decision.h"
#include "greylist/request.h"

namespace greylist {

// `text` with every byte outside printable ASCII written as \xHH (and '\\'
// as "\\\\"), cut to `max_bytes` of input with "..." appended when cut.
std::string printable(std::string_view text, std::size_t max_bytes = 256);

// "[QUEUEID: ]action=greylist, reason=new, client_name=..., client_address=...,
// sender=..., recipient=..." as postgrey logs it: empty attributes left out,
// values made printable, `delay=N` added on the first pass.
std::string decision_log_line(const Request& request, const Decision& decision);

}  // namespace greylist
