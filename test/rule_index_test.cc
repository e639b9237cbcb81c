// The RuleIndex and the ListIndex must never change a decision: every
// request of a grid is decided with and without them, over a file that
// uses every kind of guard, list and negation; then random rule files and
// requests (seeded, bounded) are decided by the indexed walk and by the
// linear walk over every rule, and must agree on the rule, its options,
// the continue rules passed and the DNS queries, in order.
#include "core/rules/rule_index.h"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "core/rules/list_index.h"
#include "core/rules/rule_evaluator.h"
#include "core/rules/rule_value.h"
#include "core/rules/rules_parser.h"

using namespace greylist;
using namespace greylist::rules;

namespace {

const char* const kRules =
    "list \"nets\" addr { 10.0.0.0/8 2001:db8:1::/48 192.0.2.128/25 }\n"
    "list \"names\" domain { sender.example .sub.example host.other.example }\n"
    "list \"senders\" from { alice@sender.example @list.example other.example carol@ /^bounce-/ }\n"
    "list \"rcpts\" rcpt { bob+tag@example.net @example.org sub.example.com dave@ }\n"
    "list \"helos\" helo { mx.sender.example /^\\[/ }\n"
    "list \"users\" auth { alice }\n"
    "racl \"r1\" whitelist addr 192.0.2.0/26 rcpt @example.net\n"
    "racl \"r2\" continue list \"names\" delay 1h\n"
    "racl \"r3\" greylist rcpt bob@example.net from @sender.example delay 2m\n"
    "racl \"r4\" blacklist not addr 10.0.0.0/8 helo list \"helos\"\n"
    "racl \"r5\" whitelist list \"users\"\n"
    "racl \"r6\" greylist list \"rcpts\" not list \"senders\" delay 5m\n"
    "racl \"r7\" greytrap rcpt trap@example.net\n"
    "racl \"r8\" whitelist addr 2001:db8::/32 domain .sender.example\n"
    "racl \"r9\" greylist from list \"senders\" delay 9m\n"
    "racl \"r10\" whitelist domain other.example\n"
    "racl \"r11\" blacklist rcpt /^spam[0-9]+@/\n"
    "racl \"r12\" greylist list \"nets\" delay 12m\n"
    "racl \"r13\" whitelist helo HELO.example\n"
    "racl \"r14\" greylist rcpt example.com delay 14m\n";

// Values per subject for random files: exact ones, regexes whose
// required literals overlap (list1 / list12-, ab / @ab.), regexes with no
// literal, and values the requests below do and do not contain.
const std::vector<std::vector<std::string>> kValues = {
    {"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "192.0.2.7", "2001:db8::/32"},            // addr
    {"a.example", ".a.example", "ab.test", "/^mx\\./", "/b\\.ex/", "/(ab|ba)/", "/\\.test$/",
     "/mx[0-9]+\\.a/"},                                                                      // domain
    {"bob@a.example", "bob@", "@a.example", "a.example", "ab.test", "/^bob/", "/tag@/", "/list1/",
     "/list12-.*@a\\.example$/", "/@ab\\./", "/^$/", "/[0-9]@/"},                           // from
    {"bob@a.example", "bob@", "@ab.test", "a.example", "/^bob/", "/tag@/", "/list1/",
     "/list12-.*@a\\.example$/", "/@ab\\./", "/x/", "/[0-9]@/"},                             // rcpt
    {"mx.a.example", "/^bad[0-9]*\\./", "/mx\\./", "/\\[/", "/ab/"},                       // helo
    {"alice", "/^ali/", "/ce$/"},                                                               // auth
};
const char* const kSubjectNames[] = {"addr", "domain", "from", "rcpt", "helo", "auth"};
const char* const kLists =
    "dnsrbl \"bl\" bl.example 127.0.0.2\n"
    "list \"l_dom\" domain { a.example /b\\.ex/ }\n"
    "list \"l_from\" from { /^bob/ @ab.test }\n"
    "list \"l_rcpt\" rcpt { /list1/ /tag@/ }\n"
    "list \"l_rcpt2\" rcpt { bob@ /x/ }\n"
    "list \"l_helo\" helo { /mx\\./ bad.example }\n";
const char* const kListNames[] = {"l_dom", "l_from", "l_rcpt", "l_rcpt2", "l_helo"};

template <typename T>
const T& pick(std::mt19937& random, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(random)];
}
bool chance(std::mt19937& random, int percent) {
  return std::uniform_int_distribution<int>(0, 99)(random) < percent;
}

std::string random_clause(std::mt19937& random) {
  std::string clause = chance(random, 20) ? "not " : "";
  const int kind = std::uniform_int_distribution<int>(0, 9)(random);
  if (kind == 0) return clause + "list \"" + kListNames[std::uniform_int_distribution<int>(0, 4)(random)] + "\"";
  if (kind == 1) return clause + "dnsrbl \"bl\"";
  const auto subject = std::uniform_int_distribution<std::size_t>(0, 5)(random);
  return clause + kSubjectNames[subject] + " " + pick(random, kValues[subject]);
}

std::string random_rules(std::mt19937& random, int count) {
  static const std::vector<std::string> kActions = {"whitelist", "greylist", "blacklist", "continue",
                                                    "continue"};
  std::string text = kLists;
  for (int i = 0; i < count; ++i) {
    const std::string& action = pick(random, kActions);
    text += "racl " + action;
    const int clauses = std::uniform_int_distribution<int>(1, 3)(random);
    for (int c = 0; c < clauses; ++c) text += " " + random_clause(random);
    if ((action == "greylist" || action == "continue") && chance(random, 60)) {
      text += " delay " + std::to_string(i + 1) + "m";
    }
    text += "\n";
  }
  return text;
}

Request random_request(std::mt19937& random) {
  static const std::vector<std::string> kAddresses = {"10.1.2.3", "10.2.0.1", "192.0.2.7", "192.0.2.99",
                                                      "2001:db8::1", "198.51.100.1"};
  static const std::vector<std::string> kNames = {"unknown", "a.example", "MX.a.example", "mx12.a.example",
                                                  "ab.test", "b.ex.test", "x.ba.example"};
  static const std::vector<std::string> kAddressesAt = {"", "bob@a.example", "Bob+tag@ab.test",
                                                        "list12-x@a.example", "alice@ab.example",
                                                        "list1@zz.test", "q7@a.example", "x@y.a.example"};
  static const std::vector<std::string> kHelos = {"mx.a.example", "bad7.x", "[1.2.3.4]", "AB", "other"};
  static const std::vector<std::string> kUsers = {"", "alice", "bob", "ALICE"};
  Request request;
  request.client_address = pick(random, kAddresses);
  request.client_name = pick(random, kNames);
  request.sender = pick(random, kAddressesAt);
  request.recipient = pick(random, kAddressesAt);
  request.helo_name = pick(random, kHelos);
  request.sasl_username = pick(random, kUsers);
  return request;
}

std::vector<int> lines_of(const std::vector<RuleRef>& refs) {
  std::vector<int> lines;
  for (const RuleRef& ref : refs) lines.push_back(ref.line);
  return lines;
}

std::vector<std::string> names_of(const std::vector<DnsQuery>& queries) {
  std::vector<std::string> names;
  for (const DnsQuery& query : queries) names.push_back(query.name);
  return names;
}

// The two walks agree on everything a caller reads.
void check_same(const RuleAssessment& fast, const RuleAssessment& slow) {
  REQUIRE(names_of(fast.queries) == names_of(slow.queries));
  REQUIRE(fast.match.has_value() == slow.match.has_value());
  if (!fast.match) return;
  CHECK(fast.match->rule.line == slow.match->rule.line);
  CHECK(fast.match->action == slow.match->action);
  CHECK(fast.match->options.delay == slow.match->options.delay);
  CHECK(lines_of(fast.match->continued) == lines_of(slow.match->continued));
}

Request make_request(const char* address, const char* name, const char* sender, const char* recipient,
                     const char* helo, const char* user) {
  Request request;
  request.client_address = address;
  request.client_name = name;
  request.sender = sender;
  request.recipient = recipient;
  request.helo_name = helo;
  request.sasl_username = user;
  return request;
}

}  // namespace

TEST_SUITE("rules_index") {

TEST_CASE("decisions with the indexes equal those without, over a grid of requests") {
  auto parsed = parse_rules(kRules, "rules");
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  const auto& data = *parsed.value();
  const char* addresses[] = {"192.0.2.5", "192.0.2.200", "10.1.2.3", "2001:db8:1::5", "2001:db8:2::5",
                             "198.51.100.1", "bogus"};
  const char* names[] = {"unknown", "sender.example", "mx.sender.example", "a.sub.example", "sub.example",
                         "host.other.example", "other.example", "x.example"};
  const char* senders[] = {"", "alice@sender.example", "alice+x@sender.example", "bob@list.example",
                           "bob@a.other.example", "carol@anywhere.example", "bounce-1@x.example",
                           "eve@evil.example"};
  const char* recipients[] = {"bob@example.net", "bob+tag@example.net", "bob+tag+x@example.net",
                              "x@example.org", "y@a.sub.example.com", "dave@z.example", "trap@example.net",
                              "spam12@example.net", "z@example.com", "z@b.example.com"};
  const char* helos[] = {"mx.sender.example", "[192.0.2.1]", "helo.example", "other"};
  const char* users[] = {"", "alice", "bob"};
  int requests = 0;
  int matched = 0;
  for (const char* address : addresses)
    for (const char* name : names)
      for (const char* sender : senders)
        for (const char* recipient : recipients)
          for (const char* helo : helos)
            for (const char* user : users) {
              const Subjects subjects =
                  subjects_of(make_request(address, name, sender, recipient, helo, user));
              const DnsAnswers none;
              const auto fast = walk_rules(data, subjects, &none, RuleScope::kAll, true).match;
              const auto slow = walk_rules(data, subjects, &none, RuleScope::kAll, false).match;
              ++requests;
              REQUIRE(fast.has_value() == slow.has_value());
              if (!fast) continue;
              ++matched;
              CHECK(fast->rule.line == slow->rule.line);
              CHECK(fast->action == slow->action);
              CHECK(fast->options.delay == slow->options.delay);
              CHECK(fast->continued.size() == slow->continued.size());
            }
  CHECK(requests == 7 * 8 * 8 * 10 * 4 * 3);
  CHECK(matched > requests / 2);
}

TEST_CASE("a list index matches exactly when one of its values does") {
  auto parsed = parse_rules(kRules, "rules");
  REQUIRE(parsed.ok());
  const char* probes[] = {"alice@sender.example", "ALICE+x@Sender.Example", "alice+@sender.example",
                          "bob@list.example", "bob@sub.list.example", "x@other.example", "x@a.other.example",
                          "carol@x.example", "carol+y@x.example", "bounce-3@y.example", "bob+tag@example.net",
                          "bob@example.net", "q@example.org", "q@sub.example.com", "q@x.sub.example.com",
                          "dave@q.example", "nobody@nowhere.example", "", "noat"};
  for (const auto& list : parsed.value()->lists) {
    for (const char* probe : probes) {
      const Subjects subjects = subjects_of(make_request("192.0.2.1", probe, probe, probe, probe, probe));
      bool any = false;
      for (const Value& value : list->values) any = any || value_matches(list->subject, value, subjects);
      CAPTURE(list->name);
      CAPTURE(probe);
      CHECK(list->index->matches(subjects) == any);
    }
  }
}

TEST_CASE("candidates: guarded rules only when their key can match") {
  auto parsed = parse_rules("racl whitelist rcpt bob@example.net\nracl whitelist rcpt /x/\n"
                            "racl whitelist addr 10.0.0.0/8\n",
                            "rules");
  REQUIRE(parsed.ok());
  const RuleIndex& index = *parsed.value()->index;
  Request request;
  request.client_address = "192.0.2.1";
  request.recipient = "carol@example.org";
  std::vector<std::uint32_t> out;
  index.candidates(subjects_of(request), out);
  CHECK(out == std::vector<std::uint32_t>{1});
  request.recipient = "carol@example.net";
  request.client_address = "10.9.9.9";
  index.candidates(subjects_of(request), out);
  CHECK(out == std::vector<std::uint32_t>{0, 1, 2});
}

TEST_CASE("random rule files: the indexed walk decides as the walk over every rule") {
  std::mt19937 random(14);
  DnsAnswers listed;
  DnsAnswer yes;
  yes.kind = DnsAnswer::Kind::kListed;
  yes.addresses.push_back({127, 0, 0, 2});
  for (const char* name : {"3.2.1.10.bl.example", "1.0.2.10.bl.example", "7.2.0.192.bl.example"}) {
    listed[name] = yes;
  }
  const DnsAnswers none;
  int decided = 0;
  int walks = 0;
  for (int file = 0; file < 150; ++file) {
    const std::string text = random_rules(random, std::uniform_int_distribution<int>(1, 40)(random));
    auto parsed = parse_rules(text, "random");
    REQUIRE_MESSAGE(parsed.ok(), parsed.status().message(), "\n", text);
    const auto& data = *parsed.value();
    for (int r = 0; r < 60; ++r) {
      const Request request = random_request(random);
      const Subjects subjects = subjects_of(request);
      CAPTURE(text);
      CAPTURE(request.client_address);
      CAPTURE(request.client_name);
      CAPTURE(request.sender);
      CAPTURE(request.recipient);
      CAPTURE(request.helo_name);
      CAPTURE(request.sasl_username);
      const std::vector<const DnsAnswers*> answer_sets = {nullptr, &none, &listed};
      for (const DnsAnswers* answers : answer_sets) {
        for (const RuleScope scope : {RuleScope::kAll, RuleScope::kNamingAuth}) {
          const auto fast = walk_rules(data, subjects, answers, scope, true);
          check_same(fast, walk_rules(data, subjects, answers, scope, false));
          decided += fast.match ? 1 : 0;
          ++walks;
        }
      }
    }
  }
  CHECK(walks == 150 * 60 * 3 * 2);
  CHECK(decided > walks / 3);  // rules do match: the comparison is not vacuous
}

}
