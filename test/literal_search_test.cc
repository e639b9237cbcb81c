// LiteralSearch must report exactly the literals a substring search finds:
// a fixed case with overlapping literals, then random literal sets and
// texts over a small alphabet (seeded, bounded) against std::string::find.
#include "core/rules/literal_search.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

using greylist::rules::LiteralSearch;

namespace {

std::set<std::uint32_t> found_in(const LiteralSearch& search, std::string_view text) {
  std::set<std::uint32_t> ids;
  search.each_found(text, [&](std::uint32_t id) { ids.insert(id); });
  return ids;
}

// What each_found promises: every non-empty literal contained in `text`,
// duplicates under their first id.
std::set<std::uint32_t> naive(const std::vector<std::string>& literals, std::string_view text) {
  std::set<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < literals.size(); ++i) {
    const bool first = std::find(literals.begin(), literals.begin() + i, literals[i]) == literals.begin() + i;
    if (!literals[i].empty() && first && text.find(literals[i]) != std::string_view::npos) ids.insert(i);
  }
  return ids;
}

std::string random_text(std::mt19937& random, std::size_t max_length) {
  static constexpr std::string_view kAlphabet = "ab.@";
  std::string text(std::uniform_int_distribution<std::size_t>(0, max_length)(random), 'a');
  for (char& c : text) c = kAlphabet[std::uniform_int_distribution<std::size_t>(0, 3)(random)];
  return text;
}

}  // namespace

TEST_SUITE("literal_search") {

TEST_CASE("overlapping literals, each reported where it occurs") {
  const LiteralSearch search({"he", "she", "his", "hers", "", "she"});
  CHECK(found_in(search, "ushers") == std::set<std::uint32_t>{0, 1, 3});
  CHECK(found_in(search, "this") == std::set<std::uint32_t>{2});
  CHECK(found_in(search, "h").empty());
  CHECK(found_in(search, "").empty());
  CHECK_FALSE(search.empty());
  CHECK(LiteralSearch({"", ""}).empty());
  CHECK(found_in(LiteralSearch({}), "anything").empty());
}

TEST_CASE("bytes past ASCII are ordinary bytes") {
  const LiteralSearch search({"\xc3\xa9t\xc3\xa9", "\xff"});
  CHECK(found_in(search, "l'\xc3\xa9t\xc3\xa9") == std::set<std::uint32_t>{0});
  CHECK(found_in(search, "a\xff") == std::set<std::uint32_t>{1});
}

TEST_CASE("random literal sets and texts: the same literals as a substring search") {
  std::mt19937 random(20261206);
  int found = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> literals(std::uniform_int_distribution<int>(0, 12)(random));
    for (auto& literal : literals) literal = random_text(random, 5);
    const LiteralSearch search(literals);
    for (int t = 0; t < 10; ++t) {
      const std::string text = random_text(random, 30);
      CAPTURE(text);
      const auto expected = naive(literals, text);
      REQUIRE(found_in(search, text) == expected);
      found += static_cast<int>(expected.size());
    }
  }
  CHECK(found > 10000);  // the texts do contain literals: the comparison is not vacuous
}

}
