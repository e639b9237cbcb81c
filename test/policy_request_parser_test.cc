// PolicyRequestParser: good and hostile input, fed whole, in chunks and
// byte by byte.
#include "policy/policy_request_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using greylist::PolicyLimits;
using greylist::PolicyRequest;
using greylist::PolicyRequestParser;

namespace {

using Attributes = std::vector<std::pair<std::string, std::string>>;

struct Parsed {
  std::vector<PolicyRequest> requests;
  bool violated = false;
  std::string violation;
  bool in_request = false;  // an unfinished request is buffered at the end
};

// Feeds `input` in chunks of `chunk` bytes (0 = all at once).
Parsed parse(const std::string& input, std::size_t chunk = 0, PolicyLimits limits = {}) {
  PolicyRequestParser parser(limits);
  Parsed out;
  const std::size_t step = chunk == 0 ? (input.empty() ? 1 : input.size()) : chunk;
  for (std::size_t at = 0; at < input.size() && !out.violated; at += step) {
    std::string_view piece = std::string_view(input).substr(at, step);
    for (int guard = 0; guard < 100000; ++guard) {
      const auto outcome = parser.consume(piece);
      if (outcome == PolicyRequestParser::Outcome::kRequest) {
        out.requests.push_back(parser.take_request());
        continue;
      }
      if (outcome == PolicyRequestParser::Outcome::kViolation) {
        out.violated = true;
        out.violation = parser.violation();
      } else {
        CHECK(piece.empty());  // kNeedMore consumed everything
      }
      break;
    }
  }
  out.in_request = parser.in_request();
  return out;
}

const std::string kNormal =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=192.0.2.7\n"
    "client_name=mail.example.test\n"
    "helo_name=mail.example.test\n"
    "sender=a@example.test\n"
    "recipient=b@example.org\n"
    "queue_id=\n"
    "instance=123.456.7\n"
    "\n";

const Attributes kNormalAttributes = {
    {"request", "smtpd_access_policy"},
    {"protocol_state", "RCPT"},
    {"protocol_name", "ESMTP"},
    {"client_address", "192.0.2.7"},
    {"client_name", "mail.example.test"},
    {"helo_name", "mail.example.test"},
    {"sender", "a@example.test"},
    {"recipient", "b@example.org"},
    {"queue_id", ""},
    {"instance", "123.456.7"},
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

TEST_SUITE("policy_parser") {

TEST_CASE("a normal Postfix request, whole, in chunks of 7 and byte by byte") {
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{7}, std::size_t{1}}) {
    CAPTURE(chunk);
    const Parsed p = parse(kNormal, chunk);
    REQUIRE(p.requests.size() == 1);
    CHECK_FALSE(p.violated);
    CHECK_FALSE(p.in_request);
    CHECK_FALSE(p.requests[0].malformed());
    CHECK(p.requests[0].attributes == kNormalAttributes);
    REQUIRE(p.requests[0].find("recipient") != nullptr);
    CHECK(*p.requests[0].find("recipient") == "b@example.org");
    CHECK(*p.requests[0].find("queue_id") == "");
    CHECK(p.requests[0].find("etrn_domain") == nullptr);
  }
}

TEST_CASE("CRLF line ends give the same attributes, byte by byte too") {
  const std::string crlf = replace_all(kNormal, "\n", "\r\n");
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
    const Parsed p = parse(crlf, chunk);
    REQUIRE(p.requests.size() == 1);
    CHECK_FALSE(p.requests[0].malformed());
    CHECK(p.requests[0].attributes == kNormalAttributes);
  }
}

TEST_CASE("two requests in one chunk, and a third one unfinished") {
  const std::string second = replace_all(kNormal, "b@example.org", "c@example.org");
  const Parsed p = parse(kNormal + second + "request=smtpd_access_policy\nsender=x");
  REQUIRE(p.requests.size() == 2);
  CHECK(*p.requests[0].find("recipient") == "b@example.org");
  CHECK(*p.requests[1].find("recipient") == "c@example.org");
  CHECK(p.in_request);
  CHECK_FALSE(p.violated);
}

TEST_CASE("consume() stops after each request and leaves the rest of the input") {
  PolicyRequestParser parser{PolicyLimits{}};
  const std::string input = kNormal + kNormal;
  std::string_view rest(input);
  REQUIRE(parser.consume(rest) == PolicyRequestParser::Outcome::kRequest);
  CHECK(rest.size() == kNormal.size());
  CHECK(parser.take_request().attributes == kNormalAttributes);
  REQUIRE(parser.consume(rest) == PolicyRequestParser::Outcome::kRequest);
  CHECK(rest.empty());
  CHECK(parser.consume(rest) == PolicyRequestParser::Outcome::kNeedMore);
  CHECK_FALSE(parser.in_request());
}

TEST_CASE("a request without its empty line is never emitted") {
  const std::string unfinished = kNormal.substr(0, kNormal.size() - 1);
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
    const Parsed p = parse(unfinished, chunk);
    CHECK(p.requests.empty());
    CHECK(p.in_request);
    CHECK_FALSE(p.violated);
  }
  // Nor one whose last line lacks its "\n".
  const Parsed p = parse("request=smtpd_access_policy\nsender=a");
  CHECK(p.requests.empty());
}

TEST_CASE("the split is at the first '=': the value keeps the others") {
  const Parsed p = parse("request=smtpd_access_policy\nsender=prvs=0123456789=a@x.test\nx===\n\n");
  REQUIRE(p.requests.size() == 1);
  CHECK_FALSE(p.requests[0].malformed());
  CHECK(*p.requests[0].find("sender") == "prvs=0123456789=a@x.test");
  CHECK(*p.requests[0].find("x") == "==");
  CHECK(p.requests[0].find("sender=prvs=0123456789") == nullptr);
}

TEST_CASE("an empty value and an empty line alone") {
  const Parsed p = parse("sender=\n\n\n");
  REQUIRE(p.requests.size() == 2);
  CHECK(*p.requests[0].find("sender") == "");
  CHECK(p.requests[1].attributes.empty());
  CHECK_FALSE(p.requests[1].malformed());
}

TEST_CASE("invalid UTF-8 and high bytes are kept as they are") {
  const std::string value = "\xff\xfe\xc3\x28 caf\xc3\xa9 \xed\xa0\x80";
  const Parsed p = parse("recipient=" + value + "\n\n");
  REQUIRE(p.requests.size() == 1);
  CHECK_FALSE(p.requests[0].malformed());
  CHECK(*p.requests[0].find("recipient") == value);
}

TEST_CASE("a CR inside a line stays in the value; only the one before LF goes") {
  const Parsed p = parse("helo_name=a\rb\r\n\r\n");
  REQUIRE(p.requests.size() == 1);
  CHECK(*p.requests[0].find("helo_name") == "a\rb");
}

TEST_CASE("malformed but not fatal: a line without '=', an empty name, a NUL, a duplicate") {
  struct Case {
    std::string input;
    std::string problem_starts;
  };
  const std::vector<Case> cases = {
      {"request=smtpd_access_policy\ngarbage here\n\n", "line 2 has no '=': garbage here"},
      {"=value\n\n", "line 1 has an empty attribute name"},
      {std::string("sender=a\0b@x.test\n\n", 19), "line 1 contains a NUL byte: sender=a\\x00b"},
      {"recipient=a@x.test\nrecipient=b@x.test\n\n", "line 2 repeats attribute 'recipient'"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.input);
    for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
      const Parsed p = parse(c.input + kNormal, chunk);
      CHECK_FALSE(p.violated);
      REQUIRE(p.requests.size() == 2);  // the next request is unaffected
      CHECK(p.requests[0].malformed());
      CHECK(p.requests[0].problem.rfind(c.problem_starts, 0) == 0);
      CHECK_FALSE(p.requests[1].malformed());
      CHECK(p.requests[1].attributes == kNormalAttributes);
    }
  }
}

TEST_CASE("a duplicate is kept in order; find() sees the first; every problem is counted") {
  const Parsed p = parse("recipient=a@x.test\nrecipient=b@x.test\nnoequals\n\n");
  REQUIRE(p.requests.size() == 1);
  CHECK(p.requests[0].problem_count == 2);
  CHECK(*p.requests[0].find("recipient") == "a@x.test");
  CHECK(p.requests[0].attributes.size() == 2);
}

TEST_CASE("the problem text of a hostile line is printable and cut") {
  const std::string line = "\x1b[2J" + std::string(300, 'A') + "\n";
  const Parsed p = parse(line + "\n");
  REQUIRE(p.requests.size() == 1);
  const std::string& problem = p.requests[0].problem;
  CHECK(problem.size() < 200);
  CHECK(problem.find('\x1b') == std::string::npos);
  CHECK(problem.find("...") != std::string::npos);
}

TEST_CASE("line length bound: at the limit is fine, one byte over is fatal, CRLF not counted") {
  PolicyLimits limits;
  limits.max_line_bytes = 32;
  const std::string at_limit = "sender=" + std::string(32 - 7, 'x');
  REQUIRE(at_limit.size() == 32);
  for (const std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
    CAPTURE(chunk);
    Parsed p = parse(at_limit + "\n\n", chunk, limits);
    CHECK_FALSE(p.violated);
    CHECK(p.requests.size() == 1);
    p = parse(at_limit + "\r\n\r\n", chunk, limits);
    CHECK_FALSE(p.violated);
    CHECK(p.requests.size() == 1);
    p = parse(at_limit + "x\n\n", chunk, limits);
    CHECK(p.violated);
    CHECK(p.violation == "line longer than 32 bytes");
    CHECK(p.requests.empty());
    p = parse(at_limit + "\rx\n\n", chunk, limits);  // a CR not before LF counts
    CHECK(p.violated);
  }
}

TEST_CASE("an over-long line is refused as it arrives, without its end") {
  PolicyRequestParser parser{PolicyLimits{}};
  const std::string megabyte(1 << 20, 'a');
  std::string_view input(megabyte);
  CHECK(parser.consume(input) == PolicyRequestParser::Outcome::kViolation);
  CHECK(parser.violation() == "line longer than 4096 bytes");
  // Sticky: nothing more is taken.
  std::string_view more = kNormal;
  CHECK(parser.consume(more) == PolicyRequestParser::Outcome::kViolation);
  CHECK(more.size() == kNormal.size());
}

TEST_CASE("attribute count bound: 10,000 attributes are fatal at the 257th") {
  std::string input;
  for (int i = 0; i < 10000; ++i) input += "a" + std::to_string(i) + "=v\n";
  input += "\n";
  const Parsed p = parse(input);
  CHECK(p.violated);
  CHECK(p.violation == "more than 256 attributes in a request");
  CHECK(p.requests.empty());

  PolicyLimits limits;
  limits.max_attributes = 3;
  CHECK_FALSE(parse("a=1\nb=2\nc=3\n\n", 0, limits).violated);
  CHECK(parse("a=1\nb=2\nc=3\nd=4\n\n", 0, limits).violated);
  CHECK(parse("a=1\nb=2\nc=3\nnoequals\n\n", 0, limits).violated);  // every line counts
  // The count is per request.
  const Parsed two = parse("a=1\nb=2\nc=3\n\na=1\nb=2\nc=3\n\n", 0, limits);
  CHECK_FALSE(two.violated);
  CHECK(two.requests.size() == 2);
}

TEST_CASE("request size bound counts every byte, terminators included, per request") {
  PolicyLimits limits;
  limits.max_request_bytes = 20;
  CHECK_FALSE(parse("aaaa=1\nbbbb=2\ncc=3\n\n", 0, limits).violated);    // exactly 20
  CHECK(parse("aaaa=1\nbbbb=2\nccc=3\n\n", 0, limits).violated);         // 21
  CHECK(parse("aaaa=1\r\nbbbb=2\r\ncc=3\r\n\r\n", 1, limits).violated);  // CRs count
  const Parsed p = parse("aaaa=1\nbbbb=2\nccc=3\n\n", 1, limits);
  CHECK(p.violation == "request longer than 20 bytes");
  const Parsed two = parse("aaaa=1\nbbbb=2\ncc=3\n\naaaa=1\nbbbb=2\ncc=3\n\n", 3, limits);
  CHECK_FALSE(two.violated);
  CHECK(two.requests.size() == 2);
}

TEST_CASE("default bounds: a 64 KiB request of short lines breaks the request bound") {
  std::string input;
  for (int i = 0; i < 250; ++i) input += "a" + std::to_string(i) + "=" + std::string(300, 'v') + "\n";
  input += "\n";
  REQUIRE(input.size() > 65536);
  const Parsed p = parse(input, 1000);
  CHECK(p.violated);
  CHECK(p.violation == "request longer than 65536 bytes");
}

}  // TEST_SUITE
