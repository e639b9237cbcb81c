#include "core/rules/regex_literal.h"

#include <cctype>

namespace greylist::rules {
namespace {

// Escaped characters that stand for themselves. Not letters and digits
// (classes, anchors, back references), nor < > ' ` (Boost's word and
// buffer anchors).
bool escapes_to_itself(char c) {
  return std::string_view(".-@+*?()[]{}|^$\\/ _=:,;!\"#%&~").find(c) != std::string_view::npos;
}
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Index just past the group or class opened at `i` (nesting and escapes
// respected); pattern.size() when it is not closed.
std::size_t skip_bracketed(std::string_view pattern, std::size_t i) {
  const char open = pattern[i];
  const char close = open == '(' ? ')' : ']';
  int depth = 0;
  for (; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
    } else if (pattern[i] == open && (open == '(' || depth == 0)) {
      ++depth;
    } else if (pattern[i] == close && --depth == 0) {
      return i + 1;
    }
  }
  return pattern.size();
}

class Scanner {
 public:
  explicit Scanner(std::string_view pattern) : pattern_(pattern) {}

  std::string run() {
    for (std::size_t i = 0; i < pattern_.size();) i = step(i);
    end_run();
    return best_;
  }

 private:
  std::size_t step(std::size_t i) {
    const char c = pattern_[i];
    if (c == '(' || c == '[') {
      end_run();
      return skip_quantifier(skip_bracketed(pattern_, i));
    }
    if (c == '\\') {
      if (i + 1 >= pattern_.size() || !escapes_to_itself(pattern_[i + 1])) {  // \d, \b, \<, \Q...
        end_run();
        return skip_quantifier(i + 2);
      }
      return literal(pattern_[i + 1], i + 2);
    }
    if (c == '.' || c == '^' || c == '$' || c == '*' || c == '+' || c == '?' || c == '{' ||
        c == ')' || c == ']' || c == '}') {
      end_run();
      return i + 1;
    }
    return literal(c, i + 1);
  }

  // A literal character at `next - 1`; a quantifier after it decides.
  std::size_t literal(char c, std::size_t next) {
    const char q = next < pattern_.size() ? pattern_[next] : '\0';
    if (q == '?' || q == '*' || q == '{') {  // optional: not required
      end_run();
      return skip_quantifier(next);
    }
    run_ += lower(c);
    if (q == '+') {  // required once; what follows is another run
      end_run();
      return skip_quantifier(next);
    }
    return next;
  }

  // Past a quantifier at `i` (and its lazy/possessive mark), if any.
  std::size_t skip_quantifier(std::size_t i) {
    if (i >= pattern_.size()) return i;
    if (pattern_[i] == '{') {
      const auto close = pattern_.find('}', i);
      i = close == std::string_view::npos ? pattern_.size() : close + 1;
    } else if (pattern_[i] == '?' || pattern_[i] == '*' || pattern_[i] == '+') {
      ++i;
    } else {
      return i;
    }
    if (i < pattern_.size() && (pattern_[i] == '?' || pattern_[i] == '+')) ++i;
    return i;
  }

  void end_run() {
    if (run_.size() > best_.size()) best_ = run_;
    run_.clear();
  }

  std::string_view pattern_;
  std::string run_;
  std::string best_;
};

}  // namespace

std::string required_literal(std::string_view pattern) {
  // Alternation, inline modifiers ((?x) changes what white space means)
  // and \Q...\E quoting (a quantifier after \E applies inside) defeat a
  // simple reading.
  if (pattern.find('|') != std::string_view::npos || pattern.find("(?") != std::string_view::npos ||
      pattern.find("\\Q") != std::string_view::npos) {
    return {};
  }
  std::string literal = Scanner(pattern).run();
  if (literal.size() < 2) literal.clear();  // a single character filters little
  return literal;
}

}  // namespace greylist::rules
