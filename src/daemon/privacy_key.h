// The secret behind --privacy's keyed hashes.
#pragma once

#include <string>

#include "greylist/status.h"

namespace greylist {

// Reads the key from `path`; if the file does not exist, creates it (mode
// 0600) with 32 random bytes from the kernel. Several MX hosts sharing one
// store must share this file. Errors name the file and the reason.
Result<std::string> load_or_create_privacy_key(const std::string& path);

}  // namespace greylist
