// The secret behind --privacy's keyed hashes: the daemon creates it, the
// admin tool only reads it (a new key would match nothing stored).
#pragma once

#include <string>

#include "config/daemon_options.h"
#include "greylist/status.h"

namespace greylist {

// Reads the key from `path`; if the file does not exist, creates it (mode
// 0600) with 32 random bytes from the kernel. Several MX hosts sharing one
// store must share this file. Errors name the file and the reason.
Result<std::string> load_or_create_privacy_key(const std::string& path);

// The key of `settings`, read (never created) from --privacy-key-file or
// DBDIR/privacy.key; empty when --privacy is off. A missing file is an
// IoError naming it.
Result<std::string> read_privacy_key(const DaemonOptions& settings);

}  // namespace greylist
