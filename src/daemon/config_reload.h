// ConfigReload: what SIGHUP makes of the configuration file.
//
// The file is read again together with the start's command line, exactly as
// at start-up (the command line still wins over the file), and the new
// settings are compared with the running ones, setting by setting, from one
// table (config_reload.cc) that says whether each setting can change while
// the daemon runs (reloadable) or only at a restart (restart-only: sockets,
// store, database, user, and everything that decides the keys under which
// entries are stored, which a change would orphan).
//
// Pure: reads the file, changes nothing. The caller applies the outcome
// (src/daemon/hup_reload.h). An invalid file or command line is an error
// and no setting changes.
#pragma once

#include <string>
#include <vector>

#include "config/daemon_options.h"
#include "greylist/status.h"

namespace greylist {

// One row of the table: the options that set one setting (space-separated;
// the first is the one logs name), and whether a change is applied on SIGHUP.
struct SettingReload {
  const char* options;
  bool reloadable;
};

// Every setting of DaemonOptions, in --help's order (the man page lists the
// same, which the docs test checks).
const std::vector<SettingReload>& setting_reload_table();

struct ReloadOutcome {
  // The running options with every reloadable change adopted; the
  // restart-only settings keep their running values.
  DaemonOptions options;
  // First option names of the changed settings, in table order.
  std::vector<std::string> applied;
  std::vector<std::string> need_restart;
};

// The comparison itself: `fresh` against `running`.
ReloadOutcome compare_settings(const DaemonOptions& running, const DaemonOptions& fresh);

class ConfigReload {
 public:
  // `args`: argv without the program name; `directory`: the working
  // directory at start, from which relative paths were taken.
  ConfigReload(std::vector<std::string> args, std::string directory)
      : args_(std::move(args)), directory_(std::move(directory)) {}

  // Reads the configuration again and compares it with `running`.
  // InvalidArgument (one line naming the option and what is wrong) when the
  // file cannot be read or a value is invalid.
  Result<ReloadOutcome> read(const DaemonOptions& running) const;

 private:
  std::vector<std::string> args_;
  std::string directory_;
};

}  // namespace greylist
