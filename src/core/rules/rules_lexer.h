// Splits a rules file into statements of tokens (greylist.conf's lexical
// rules): a statement ends at the end of its line, unless the line ends
// inside braces { } or a backslash continues it (whatever follows the
// backslash on its line is ignored). '#' where a token would start begins
// a comment to the end of the line.
//
// Tokens: words (runs of anything but white space, quotes, braces, '#' at
// a token start, backslash), "quoted strings" (no escapes, one line),
// /regular expressions/ (a token starting with '/', up to the next '/'),
// and the braces. Pure function over untrusted text; every size bounded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist::rules {

inline constexpr std::size_t kMaxTokenBytes = 1024;
inline constexpr std::size_t kMaxStatementTokens = 100000;

struct Token {
  enum class Kind { kWord, kString, kRegex, kOpenBrace, kCloseBrace };
  Kind kind = Kind::kWord;
  std::string text;  // without the quotes or slashes
  int line = 0;
};

struct Statement {
  int line = 0;  // of its first token
  std::vector<Token> tokens;  // never empty
};

// InvalidArgument("FILE:LINE: reason") on an unterminated string, regex or
// brace, a nested or stray brace, a control character, an over-long token
// or statement.
Result<std::vector<Statement>> split_statements(std::string_view text, const std::string& file);

// "FILE:LINE: message" as an InvalidArgument status.
Status error_at(const std::string& file, int line, const std::string& message);

// A token made printable and short, quoted, for error messages.
std::string describe(const Token& token);

}  // namespace greylist::rules
