// Reading what a shell (or systemd's EnvironmentFile= and "$VAR" command
// line expansion) reads: /etc/default/* files of NAME=value assignments,
// and option strings split into words.
//
// Quoting follows sh: '...' is literal; "..." is literal except for a
// backslash before $, `, ", \ or a newline; an unquoted backslash escapes
// the next character (backslash-newline joins lines). Nothing is expanded:
// a value using $VAR or `command` is kept as written and reported, never
// run. Input is bounded (kMaxShellText bytes, kMaxShellWords words); an
// unterminated quote is an error naming the line.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist {

inline constexpr std::size_t kMaxShellText = 256 * 1024;
inline constexpr std::size_t kMaxShellWords = 4096;

// "--a 'b c' d\ e" -> {"--a", "b c", "d e"}. Errors: unterminated quote,
// trailing backslash, too long, too many words.
Result<std::vector<std::string>> split_shell_words(std::string_view text);

struct ShellAssignments {
  std::map<std::string, std::string> values;  // NAME => value, quotes removed; the last wins
  // "LINE: what": lines that are not assignments (commands, tests) and
  // values with an expansion ($, `) that was not done. They are skipped.
  std::vector<std::string> warnings;
};

// The assignments of a defaults file: blank lines and # comments skipped,
// "export NAME=value" accepted, a quoted value may span lines, a comment
// may follow a value. Errors: unterminated quote (with its line), too long.
Result<ShellAssignments> parse_shell_assignments(std::string_view text);

}  // namespace greylist
