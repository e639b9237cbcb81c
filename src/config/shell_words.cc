#include "config/shell_words.h"

#include <cctype>

namespace greylist {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Reads shell words from a text, one at a time, tracking the line number.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  int line() const { return line_; }

  void skip_blanks() {
    while (!at_end() && is_blank(peek())) ++pos_;
  }
  void skip_to_line_end() {
    while (!at_end() && peek() != '\n') ++pos_;
  }
  void skip_one() { ++pos_; }
  void take_newline() {
    if (!at_end() && peek() == '\n') {
      ++pos_;
      ++line_;
    }
  }

  // The word starting here (quotes removed), up to unquoted blank, newline
  // or ';'. `expands` is set when it holds an unquoted or double-quoted $
  // or ` (which a shell would expand).
  Result<std::string> word(bool& expands) {
    std::string out;
    const int first_line = line_;
    while (!at_end()) {
      const char c = peek();
      if (is_blank(c) || c == '\n' || c == ';') break;
      ++pos_;
      if (c == '\'') {
        const auto end = text_.find('\'', pos_);
        if (end == std::string_view::npos) return unterminated("'", first_line);
        count_lines(text_.substr(pos_, end - pos_));
        out.append(text_.substr(pos_, end - pos_));
        pos_ = end + 1;
      } else if (c == '"') {
        if (const Status s = double_quoted(out, expands, first_line); !s.ok()) return s;
      } else if (c == '\\') {
        if (at_end()) return Status::InvalidArgument("line " + std::to_string(line_) +
                                                     ": backslash at the end of the text");
        if (peek() == '\n') {
          ++line_;
        } else {
          out += peek();
        }
        ++pos_;
      } else {
        if (c == '$' || c == '`') expands = true;
        out += c;
      }
    }
    return out;
  }

 private:
  Status double_quoted(std::string& out, bool& expands, int first_line) {
    while (!at_end()) {
      const char c = text_[pos_++];
      if (c == '"') return Status::Ok();
      if (c == '\n') ++line_;
      if (c == '\\' && !at_end() &&
          (peek() == '$' || peek() == '`' || peek() == '"' || peek() == '\\' || peek() == '\n')) {
        if (peek() == '\n') {
          ++line_;
        } else {
          out += peek();
        }
        ++pos_;
        continue;
      }
      if (c == '$' || c == '`') expands = true;
      out += c;
    }
    return unterminated("\"", first_line);
  }
  void count_lines(std::string_view part) {
    for (const char c : part) line_ += c == '\n' ? 1 : 0;
  }
  static Status unterminated(const char* quote, int line) {
    return Status::InvalidArgument("line " + std::to_string(line) + ": unterminated " + quote +
                                   " quote");
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

Status too_long() {
  return Status::InvalidArgument("more than " + std::to_string(kMaxShellText) + " bytes");
}

bool is_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (const char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> split_shell_words(std::string_view text) {
  if (text.size() > kMaxShellText) return too_long();
  Scanner scanner(text);
  std::vector<std::string> words;
  for (;;) {
    scanner.skip_blanks();
    while (!scanner.at_end() && scanner.peek() == '\n') {
      scanner.take_newline();
      scanner.skip_blanks();
    }
    if (scanner.at_end()) return words;
    if (words.size() >= kMaxShellWords) {
      return Status::InvalidArgument("more than " + std::to_string(kMaxShellWords) + " words");
    }
    bool expands = false;
    auto word = scanner.word(expands);
    if (!word.ok()) return word.status();
    if (!scanner.at_end() && scanner.peek() == ';') {
      return Status::InvalidArgument("line " + std::to_string(scanner.line()) +
                                     ": ';' in an option string");
    }
    words.push_back(std::move(word).value());
  }
}

Result<ShellAssignments> parse_shell_assignments(std::string_view text) {
  if (text.size() > kMaxShellText) return too_long();
  ShellAssignments out;
  Scanner scanner(text);
  std::size_t statements = 0;
  while (!scanner.at_end()) {
    scanner.skip_blanks();
    if (scanner.at_end()) break;
    const char c = scanner.peek();
    if (c == '\n' || c == ';') {
      if (c == '\n') {
        scanner.take_newline();
      } else {
        scanner.skip_one();
      }
      continue;
    }
    if (c == '#') {
      scanner.skip_to_line_end();
      continue;
    }
    if (++statements > kMaxShellWords) {
      return Status::InvalidArgument("more than " + std::to_string(kMaxShellWords) + " statements");
    }
    const int line = scanner.line();
    bool expands = false;
    auto word = scanner.word(expands);
    if (!word.ok()) return word.status();
    std::string assignment = std::move(word).value();
    if (assignment == "export") {
      scanner.skip_blanks();
      expands = false;
      word = scanner.word(expands);
      if (!word.ok()) return word.status();
      assignment = std::move(word).value();
    }
    const auto equals = assignment.find('=');
    const std::string name = assignment.substr(0, equals == std::string::npos ? 0 : equals);
    scanner.skip_blanks();
    const bool ends = scanner.at_end() || scanner.peek() == '\n' || scanner.peek() == ';' ||
                      scanner.peek() == '#';
    if (!is_name(name) || !ends) {
      out.warnings.push_back(std::to_string(line) + ": not a NAME=value assignment: skipped");
      scanner.skip_to_line_end();
      continue;
    }
    if (expands) {
      out.warnings.push_back(std::to_string(line) + ": " + name +
                             " uses $ or ` (not expanded here): taken as written");
    }
    out.values[name] = assignment.substr(equals + 1);
    if (!scanner.at_end() && scanner.peek() == '#') scanner.skip_to_line_end();
  }
  return out;
}

}  // namespace greylist
