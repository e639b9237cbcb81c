// PolicyAttributes: views that survive copies, moves and growth; the index
// of the known attributes agrees with a search by name.
#include "policy/policy_attributes.h"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "policy/policy_request_parser.h"

using greylist::KnownAttribute;
using greylist::PolicyAttributes;
using greylist::PolicyLimits;
using greylist::PolicyRequest;
using greylist::PolicyRequestParser;

namespace {

using Owned = PolicyAttributes::Owned;

PolicyRequest parse_one(const std::string& text) {
  PolicyRequestParser parser(PolicyLimits{});
  std::string_view input = text;
  REQUIRE(parser.consume(input) == PolicyRequestParser::Outcome::kRequest);
  return parser.take_request();
}

// Every name and value points into the object's own storage range, not
// into a copy it was made from: checked by overwriting the source.
void check_owned(const PolicyAttributes& attributes, const Owned& expected) {
  CHECK(attributes == expected);
  for (const auto& [name, value] : attributes) {
    CHECK(attributes.find(std::string(name)) != nullptr);
  }
}

}  // namespace

TEST_CASE("short and long attribute sets keep their values through copies and moves") {
  for (const Owned& expected :
       {Owned{{"a", "b"}}, Owned{{"recipient", std::string(300, 'r')}, {"x", "y"}}}) {
    PolicyAttributes original(expected);
    PolicyAttributes copy(original);
    PolicyAttributes assigned;
    assigned = copy;
    PolicyAttributes moved(std::move(original));
    PolicyAttributes move_assigned;
    move_assigned = std::move(copy);
    original = PolicyAttributes(Owned{{"other", "junk"}});  // reuse the moved-from objects
    copy = PolicyAttributes(Owned{{"zzzz", "zzzz"}});
    check_owned(assigned, expected);
    check_owned(moved, expected);
    check_owned(move_assigned, expected);
    CHECK(original == Owned{{"other", "junk"}});
  }
}

TEST_CASE("a parsed request stays intact when the parser goes on and when it is moved") {
  PolicyRequestParser parser(PolicyLimits{});
  std::string first = "request=smtpd_access_policy\nrecipient=a@x.test\n\n";
  std::string second = "q=1\n\n";
  std::string_view input = first;
  REQUIRE(parser.consume(input) == PolicyRequestParser::Outcome::kRequest);
  std::vector<PolicyRequest> kept;
  kept.push_back(parser.take_request());
  input = second;
  REQUIRE(parser.consume(input) == PolicyRequestParser::Outcome::kRequest);
  first.assign(first.size(), '#');  // the input buffer is reused by the caller
  for (int i = 0; i < 20; ++i) kept.push_back(parser.take_request());  // vector grows, moves
  CHECK(kept[0].attributes == Owned{{"request", "smtpd_access_policy"}, {"recipient", "a@x.test"}});
  CHECK(kept[1].attributes == Owned{{"q", "1"}});
}

TEST_CASE("a request that outgrows its first buffer keeps every attribute") {
  std::string text;
  Owned expected;
  for (int i = 0; i < 200; ++i) {
    expected.emplace_back("n" + std::to_string(i), std::string(40, static_cast<char>('a' + i % 26)));
    text += expected.back().first + "=" + expected.back().second + "\n";
  }
  text += "\n";
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, text.size()}) {
    PolicyRequestParser parser(PolicyLimits{});
    PolicyRequest request;
    for (std::size_t at = 0; at < text.size(); at += chunk) {
      std::string_view piece = std::string_view(text).substr(at, chunk);
      if (parser.consume(piece) == PolicyRequestParser::Outcome::kRequest) {
        request = parser.take_request();
      }
    }
    CHECK(request.attributes == expected);
  }
}

TEST_CASE("the known attributes are found by index, as a search by name finds them") {
  const PolicyRequest request = parse_one(
      "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
      "client_name=mx.test\nhelo_name=h\nsender=s@x\nrecipient=r@y\nqueue_id=Q\n"
      "instance=i.1\netrn_domain=\nsasl_username=u\nother=o\n\n");
  CHECK(!request.malformed());
  for (std::size_t i = 0; i < greylist::kKnownAttributeCount; ++i) {
    const auto known = static_cast<KnownAttribute>(i);
    const greylist::AttributeText* by_index = request.find(known);
    REQUIRE(by_index != nullptr);
    CHECK(by_index == request.find(greylist::attribute_name(known)));
  }
  CHECK(*request.find(KnownAttribute::kClientAddress) == "192.0.2.1");
  CHECK(*request.find(KnownAttribute::kEtrnDomain) == "");
  CHECK(*request.find("other") == "o");

  const PolicyRequest sparse = parse_one("recipient=r@y\n\n");
  CHECK(sparse.find(KnownAttribute::kSender) == nullptr);
  CHECK(*sparse.find(KnownAttribute::kRecipient) == "r@y");
}

TEST_CASE("a known attribute given twice is a problem, and the first one counts") {
  const PolicyRequest request = parse_one("sender=a@x\nsender=b@x\nq=1\nq=2\n\n");
  CHECK(request.problem_count == 2);
  CHECK(request.problem == "line 2 repeats attribute 'sender'");
  CHECK(*request.find(KnownAttribute::kSender) == "a@x");
  CHECK(*request.find("q") == "1");
}

TEST_CASE("attributes built by hand are indexed like parsed ones") {
  const PolicyAttributes built(Owned{{"x", "1"}, {"recipient", "r@y"}, {"recipient", "later"}});
  CHECK(*built.find(KnownAttribute::kRecipient) == "r@y");
  CHECK(built.find(KnownAttribute::kSender) == nullptr);
  CHECK(built.size() == 3);
  const PolicyAttributes listed = {{"recipient", "r@y"}};
  CHECK(*listed.find(KnownAttribute::kRecipient) == "r@y");
}
