// The second half of `greylistctl import-postgrey`, shared with
// `migrate-postgrey`: postgrey's database, already read, written into the
// store the daemon's settings name, and the counts printed.
#pragma once

#include <cstdint>
#include <string>

#include "config/daemon_options.h"
#include "tools/ctl_command.h"
#include "tools/postgrey_import.h"

namespace greylist {

// Reads the --privacy key, opens the store (giving up root for the owner
// of --dbdir: read root-only files before), converts and writes `database`
// (read from `dir`), with `postgrey_delay` as postgrey's --delay. Prints
// the report ("would import" with dry_run, which writes nothing) on
// ctx.out, errors as "greylistctl: COMMAND: ..." on ctx.err. Returns
// kExitOk or kExitFailure.
int import_postgrey_database(CtlContext& ctx, const char* command, const DaemonOptions& settings,
                             const std::string& dir, const PostgreyDatabase& database,
                             std::int64_t postgrey_delay, bool dry_run);

}  // namespace greylist
