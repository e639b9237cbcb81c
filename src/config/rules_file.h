// The rules file the options name (--rules), read as the daemon reads it:
// shared by the daemon and greylistctl, so both load the same rules.
#pragma once

#include <memory>

#include "config/daemon_options.h"
#include "greylist/rule_set.h"

namespace greylist {

// The rules `options` name; nullptr when there are none: no file
// (--rules ''), or --rules' default file is absent. Errors:
// InvalidArgument("FILE:LINE: what is wrong") for an invalid file,
// IoError("FILE: reason") for one that cannot be read (a file given by
// --rules must exist). Logs nothing.
Result<std::shared_ptr<const RuleSet>> load_rules_file(const RulesOptions& options);

}  // namespace greylist
