#include "core/rules/rules_lexer.h"

#include "greylist/log_line.h"

namespace greylist::rules {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && !is_blank(c) && c != '\n') || u == 0x7f;
}
bool ends_word(char c) {
  return is_blank(c) || c == '\n' || c == '"' || c == '{' || c == '}' || c == '\\';
}

// Walks the text once; see the header for the lexical rules.
class Lexer {
 public:
  Lexer(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  Result<std::vector<Statement>> run() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      Status status;
      if (c == '\n') {
        status = end_of_line();
      } else if (is_blank(c)) {
        ++pos_;
      } else if (is_control(c)) {
        status = error_at(file_, line_, "control character in the file");
      } else if (c == '#') {
        skip_to_newline();
      } else if (c == '\\') {
        skip_to_newline();
        if (pos_ < text_.size()) {  // the newline does not end the statement
          ++pos_;
          ++line_;
        }
      } else {
        status = token();
      }
      if (!status.ok()) return status;
    }
    if (in_braces_) return error_at(file_, brace_line_, "'{' is never closed");
    if (Status status = finish_statement(); !status.ok()) return status;
    return std::move(statements_);
  }

 private:
  void skip_to_newline() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }

  Status end_of_line() {
    ++pos_;
    ++line_;
    return in_braces_ ? Status::Ok() : finish_statement();
  }

  Status finish_statement() {
    if (!current_.tokens.empty()) statements_.push_back(std::move(current_));
    current_ = Statement{};
    return Status::Ok();
  }

  Status add(Token::Kind kind, std::string text) {
    if (text.size() > kMaxTokenBytes) {
      return error_at(file_, line_, "token longer than " + std::to_string(kMaxTokenBytes) + " bytes");
    }
    if (current_.tokens.size() >= kMaxStatementTokens) {
      return error_at(file_, line_, "statement longer than " +
                                        std::to_string(kMaxStatementTokens) + " tokens");
    }
    if (current_.tokens.empty()) current_.line = line_;
    current_.tokens.push_back(Token{kind, std::move(text), line_});
    return Status::Ok();
  }

  // Text up to `close` on this line (for strings and regexes).
  Result<std::string> delimited(char close, const char* what) {
    const std::size_t start = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != close && text_[pos_] != '\n') {
      if (is_control(text_[pos_])) return error_at(file_, line_, "control character in the file");
      ++pos_;
    }
    if (pos_ >= text_.size() || text_[pos_] != close) {
      return error_at(file_, line_, std::string("unterminated ") + what);
    }
    return std::string(text_.substr(start, pos_++ - start));
  }

  Status token() {
    const char c = text_[pos_];
    if (c == '{') {
      if (in_braces_) return error_at(file_, line_, "nested '{'");
      in_braces_ = true;
      brace_line_ = line_;
      ++pos_;
      return add(Token::Kind::kOpenBrace, "{");
    }
    if (c == '}') {
      if (!in_braces_) return error_at(file_, line_, "'}' without '{'");
      in_braces_ = false;
      ++pos_;
      return add(Token::Kind::kCloseBrace, "}");
    }
    if (c == '"' || c == '/') {
      auto body = delimited(c, c == '"' ? "string" : "regular expression (no '/' inside one)");
      if (!body.ok()) return body.status();
      return add(c == '"' ? Token::Kind::kString : Token::Kind::kRegex, std::move(body).value());
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && !ends_word(text_[pos_])) {
      if (is_control(text_[pos_])) return error_at(file_, line_, "control character in the file");
      ++pos_;
    }
    return add(Token::Kind::kWord, std::string(text_.substr(start, pos_ - start)));
  }

  std::string_view text_;
  const std::string& file_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool in_braces_ = false;
  int brace_line_ = 0;
  Statement current_;
  std::vector<Statement> statements_;
};

}  // namespace

Result<std::vector<Statement>> split_statements(std::string_view text, const std::string& file) {
  return Lexer(text, file).run();
}

Status error_at(const std::string& file, int line, const std::string& message) {
  return Status::InvalidArgument(file + ":" + std::to_string(line) + ": " + message);
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::kString: return "\"" + printable(token.text, 64) + "\"";
    case Token::Kind::kRegex: return "/" + printable(token.text, 64) + "/";
    default: return "'" + printable(token.text, 64) + "'";
  }
}

}  // namespace greylist::rules
