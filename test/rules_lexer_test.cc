#include "core/rules/rules_lexer.h"

#include <doctest/doctest.h>

using namespace greylist::rules;

namespace {
std::vector<Statement> split(std::string_view text) {
  auto statements = split_statements(text, "rules");
  REQUIRE_MESSAGE(statements.ok(), statements.status().message());
  return statements.value();
}
std::string error(std::string_view text) {
  auto statements = split_statements(text, "rules");
  REQUIRE_FALSE(statements.ok());
  return statements.status().message();
}
}  // namespace

TEST_SUITE("rules_lexer") {

TEST_CASE("one statement per line; comments and blank lines skipped") {
  const auto statements = split("# comment\n\nracl whitelist addr 10.0.0.0/8  # why\n  racl greylist default\n");
  REQUIRE(statements.size() == 2);
  CHECK(statements[0].line == 3);
  REQUIRE(statements[0].tokens.size() == 4);
  CHECK(statements[0].tokens[3].text == "10.0.0.0/8");
  CHECK(statements[1].line == 4);
}

TEST_CASE("strings, regexes and braces are tokens of their own") {
  const auto statements = split("racl \"my id\" greylist rcpt /.*@example\\.net/ msg \"a b\"\n");
  REQUIRE(statements.size() == 1);
  const auto& t = statements[0].tokens;
  REQUIRE(t.size() == 7);
  CHECK(t[1].kind == Token::Kind::kString);
  CHECK(t[1].text == "my id");
  CHECK(t[4].kind == Token::Kind::kRegex);
  CHECK(t[4].text == ".*@example\\.net");
  CHECK(t[6].text == "a b");
  const auto list = split("list \"l\" addr {10.0.0.1 10.0.0.2}");
  REQUIRE(list[0].tokens.size() == 7);
  CHECK(list[0].tokens[3].kind == Token::Kind::kOpenBrace);
  CHECK(list[0].tokens[6].kind == Token::Kind::kCloseBrace);
}

TEST_CASE("a backslash continues the statement; braces span lines") {
  const auto statements = split("racl greylist \\ ignored\n  rcpt a@example.net\nlist \"x\" addr {\n 10.0.0.1\n 10.0.0.2\n}\nracl whitelist default\n");
  REQUIRE(statements.size() == 3);
  CHECK(statements[0].tokens.size() == 4);
  CHECK(statements[0].tokens[3].line == 2);
  CHECK(statements[1].tokens.size() == 7);
  CHECK(statements[2].line == 7);
}

TEST_CASE("'#' inside a word, a string or a regex is no comment") {
  const auto statements = split("racl greylist rcpt a#b@example.net helo \"x # y\" from /#/\n");
  REQUIRE(statements[0].tokens.size() == 8);
  CHECK(statements[0].tokens[3].text == "a#b@example.net");
  CHECK(statements[0].tokens[5].text == "x # y");
  CHECK(statements[0].tokens[7].text == "#");
}

TEST_CASE("lexical errors name the line") {
  CHECK(error("racl greylist\nhelo \"open\n") == "rules:2: unterminated string");
  CHECK(error("\nracl greylist rcpt /abc\n").find("rules:2: unterminated regular expression") == 0);
  CHECK(error("list \"x\" addr {\n10.0.0.1\n") == "rules:1: '{' is never closed");
  CHECK(error("list \"x\" addr { { }") == "rules:1: nested '{'");
  CHECK(error("racl greylist }") == "rules:1: '}' without '{'");
  CHECK(error("racl\x01 greylist") == "rules:1: control character in the file");
  CHECK(error("racl greylist helo " + std::string(2000, 'a')).find("rules:1: token longer") == 0);
}

TEST_CASE("CRLF line ends are white space") {
  const auto statements = split("racl whitelist default\r\nracl greylist default\r\n");
  REQUIRE(statements.size() == 2);
  CHECK(statements[0].tokens.back().text == "default");
}

}
