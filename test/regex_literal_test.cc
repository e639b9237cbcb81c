#include "core/rules/regex_literal.h"

#include <doctest/doctest.h>

using greylist::rules::may_match;
using greylist::rules::required_literal;

TEST_SUITE("rules_regex_literal") {

TEST_CASE("the longest top-level literal run, lower case") {
  CHECK(required_literal("^list12-.*@Example\\.org$") == "@example.org");
  CHECK(required_literal("^mx[0-9]+\\.sender\\.example") == ".sender.example");
  CHECK(required_literal("abc") == "abc");
  CHECK(required_literal("ab+cde") == "cde");       // b+ ends a run (b is still required)
  CHECK(required_literal("abc+de") == "abc");
  CHECK(required_literal("abcd?e") == "abc");       // d is optional
  CHECK(required_literal("abc*de") == "ab");
  CHECK(required_literal("xyz{2}w") == "xy");
  CHECK(required_literal("(group)tail") == "tail");  // groups are skipped
  CHECK(required_literal("(a)?bcd") == "bcd");
  CHECK(required_literal("[abc]def") == "def");
  CHECK(required_literal("\\d+longer\\w") == "longer");
}

TEST_CASE("no literal where one could be wrong") {
  CHECK(required_literal("foo|bar") == "");
  CHECK(required_literal("(?x) a b c") == "");
  CHECK(required_literal("(?i)abc") == "");
  CHECK(required_literal("\\<word\\>") == "word");  // Boost's word anchors are not '<' '>'
  CHECK(required_literal(".*") == "");
  CHECK(required_literal("a") == "");               // too short to be worth a search
  CHECK(required_literal("\\Qab\\E?") == "");        // the ? applies to the quoted b
}

TEST_CASE("may_match") {
  CHECK(may_match("bob@example.org", "@example.org"));
  CHECK_FALSE(may_match("bob@example.com", "@example.org"));
  CHECK(may_match("anything", ""));
}

}
