// The RuleIndex and the ListIndex must never change a decision: every
// request of a grid is decided with and without them, over a file that
// uses every kind of guard, list and negation.
#include "core/rules/rule_index.h"

#include <doctest/doctest.h>

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
              const auto fast = walk_rules(data, subjects, &none, true).match;
              const auto slow = walk_rules(data, subjects, &none, false).match;
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

}
