// Adding settings to greylist-milter.conf without losing what it says:
// for `greylistctl migrate-postgrey`. The file is read as
// Boost.Program_options reads it ('#' starts a comment anywhere on a line,
// "name = value", blanks around both trimmed, a name may repeat for list
// options), and only appended to; an existing line is changed only with
// force (commented out, the new value appended). Pure: no file access.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/postgrey_options.h"

namespace greylist {

struct ConfigUpdate {
  std::string text;  // the whole new file (== existing when nothing changes)
  std::vector<MigratedSetting> added;
  std::vector<MigratedSetting> unchanged;  // the file already says the same
  // Names the file sets to something else: "LINE: name = old (wanted: new,
  // from SOURCE)". Without force they keep their old value and nothing of
  // theirs is added; with force the old lines are commented out.
  std::vector<std::string> conflicts;
  // Values the config file cannot hold ('#', a line break, blanks at either
  // end): "name (from SOURCE): why".
  std::vector<std::string> unwritable;
};

// `settings` grouped by name (several lines of one name form its list).
// `heading` is the comment line written above the added block.
ConfigUpdate update_config_text(std::string_view existing,
                                const std::vector<MigratedSetting>& settings, bool force,
                                const std::string& heading);

}  // namespace greylist
