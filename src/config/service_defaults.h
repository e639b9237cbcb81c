// GREYLIST_MILTER_OPTS of /etc/default/greylist-milter: the options the
// systemd unit appends to the daemon's command line (after --config), so
// that greylistctl reads the daemon's settings from the same sources, in
// the same order (greylistctl(8), SETTINGS).
#pragma once

#include <string>
#include <vector>

#include "greylist/status.h"

namespace greylist {

inline constexpr const char* kServiceDefaultsFile = "/etc/default/greylist-milter";

// The words of GREYLIST_MILTER_OPTS in `path` (shell quoting, as systemd
// splits "$GREYLIST_MILTER_OPTS"); empty when the file or the variable is
// absent. Errors name the file: unreadable, an unterminated quote.
Result<std::vector<std::string>> read_service_options(const std::string& path);

}  // namespace greylist
