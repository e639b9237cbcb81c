#include "core/rules/rules_parser.h"

#include <doctest/doctest.h>

using namespace greylist;
using namespace greylist::rules;

namespace {
std::unique_ptr<RuleSet::Data> parse(std::string_view text) {
  auto data = parse_rules(text, "rules");
  REQUIRE_MESSAGE(data.ok(), data.status().message());
  return std::move(data).value();
}
std::string error(std::string_view text) {
  auto data = parse_rules(text, "rules");
  REQUIRE_FALSE(data.ok());
  return data.status().message();
}
bool starts(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }
}  // namespace

TEST_SUITE("rules_parser") {

TEST_CASE("a file of every statement kind") {
  const auto data = parse(
      "list \"local\" addr { 192.0.2.0/24 2001:db8::/32 }\n"
      "dnsrbl \"dnswl\" list.dnswl.example. 127.0.10.0/24\n"
      "racl \"lan\" whitelist list \"local\"\n"
      "racl whitelist dnsrbl \"dnswl\"\n"
      "racl greytrap rcpt trap@example.net hold 2d\n"
      "racl continue not domain /./ delay 1h\n"
      "acl greylist rcpt @example.org delay 15m autowhite 3d code 451 ecode 4.7.1 msg \"Later\"\n"
      "racl blacklist helo localhost code \"554\" ecode \"5.7.1\" msg \"Go away\"\n"
      "racl greylist default\n");
  REQUIRE(data->rules.size() == 7);
  CHECK(data->lists.size() == 1);
  REQUIRE(data->dns_lists.size() == 1);
  CHECK(data->dns_lists[0].zone == "list.dnswl.example");
  CHECK(data->dns_lists[0].match.prefix() == 24);
  CHECK(data->rules[0].ref.id == "lan");
  CHECK(data->rules[0].ref.line == 3);
  CHECK(data->rules[0].action == RuleAction::kWhitelist);
  CHECK_FALSE(data->rules[0].needs_dns);
  CHECK(data->rules[1].needs_dns);
  CHECK(data->rules[2].action == RuleAction::kGreytrap);
  CHECK(data->rules[2].options.hold == std::chrono::hours(48));
  CHECK(data->rules[3].clauses[0].negated);
  CHECK(data->rules[4].options.delay == std::chrono::minutes(15));
  CHECK(data->rules[4].options.autowhite == std::chrono::hours(72));
  CHECK(data->rules[4].options.code == "451");
  CHECK(data->rules[4].options.ecode == "4.7.1");
  CHECK(data->rules[4].options.msg == "Later");
  CHECK(data->rules[5].options.code == "554");
  CHECK(std::holds_alternative<DefaultClause>(data->rules[6].clauses[0].test));
}

TEST_CASE("a greytrap without hold holds for the default") {
  const auto data = parse("racl greytrap rcpt trap@example.net\n");
  CHECK(data->rules[0].options.hold == RuleSet::kDefaultHold);
}

TEST_CASE("SUBJECT list \"NAME\" needs a list of that subject") {
  parse("list \"u\" rcpt { a@example.net /^b@/ }\nracl greylist rcpt list \"u\"\nracl greylist not list \"u\"\n");
  CHECK(error("list \"u\" rcpt { a@example.net }\nracl greylist from list \"u\"\n") ==
        "rules:2: list \"u\" is a rcpt list, not from");
}

TEST_CASE("names are defined before use, and once") {
  CHECK(error("racl whitelist list \"later\"\nlist \"later\" addr { 10.0.0.1 }\n") ==
        "rules:1: list \"later\" is not defined above");
  CHECK(error("racl whitelist dnsrbl \"x\"\n") == "rules:1: dnsrbl \"x\" is not defined above");
  CHECK(error("list \"a\" addr { 10.0.0.1 }\nlist \"a\" addr { 10.0.0.2 }\n") ==
        "rules:2: list \"a\" already defined at line 1");
  CHECK(error("dnsrbl \"d\" z.example 127.0.0.2\ndnsrbl \"d\" z.example 127.0.0.3\n") ==
        "rules:2: dnsrbl \"d\" already defined at line 1");
  CHECK(error("racl \"x\" whitelist default\nracl \"x\" greylist default\n") ==
        "rules:2: rule id \"x\" already used at line 1");
}

TEST_CASE("milter-greylist statements outside the subset are named") {
  CHECK(starts(error("racl whitelist default\ngreylist 15m\n"), "rules:2: 'greylist' is not supported"));
  CHECK(starts(error("dacl blacklist msgsize >= 4M\n"), "rules:1: 'dacl' (data-stage rules) is not supported"));
  CHECK(starts(error("racl blacklist rcptcount >= 25\n"), "rules:1: 'rcptcount' is not supported"));
  CHECK(starts(error("racl whitelist time \"* 8-16 * * 1-5\"\n"), "rules:1: 'time' is not supported"));
  CHECK(starts(error("racl whitelist default nolog\n"), "rules:1: 'nolog' is not supported"));
  CHECK(starts(error("racl blacklist dnsrbl \"x\" flushaddr\n"), "rules:1: dnsrbl \"x\" is not defined"));
  CHECK(starts(error("list \"t\" time { 1 }\n"), "rules:1: list type 'time' is not supported"));
  CHECK(starts(error("racl reject default\n"), "rules:1: expected an action"));
}

TEST_CASE("options must fit the action") {
  CHECK(error("racl whitelist addr 10.0.0.1 delay 5m\n") ==
        "rules:1: option 'delay' is not supported on a whitelist rule");
  CHECK(error("racl blacklist default autowhite 1d\n") ==
        "rules:1: option 'autowhite' is not supported on a blacklist rule");
  CHECK(error("racl greylist default hold 1d\n") ==
        "rules:1: option 'hold' is not supported on a greylist rule");
  CHECK(error("racl greytrap rcpt t@example.net delay 1h\n") ==
        "rules:1: option 'delay' is not supported on a greytrap rule");
  CHECK(error("racl blacklist default code 451\n") ==
        "rules:1: code of a blacklist rule must start with 5");
  CHECK(error("racl greylist default code 550\n") == "rules:1: code of a greylist rule must start with 4");
  CHECK(error("racl greylist default ecode 5.7.1\n") == "rules:1: ecode of a greylist rule must start with 4");
  CHECK(starts(error("racl greylist default code 4x1\n"), "rules:1: code must be 4NN or 5NN"));
  CHECK(starts(error("racl greylist default ecode 4.7\n"), "rules:1: ecode must look like"));
  CHECK(error("racl greylist default delay 5m delay 6m\n") == "rules:1: delay given twice");
  CHECK(starts(error("racl greylist default delay 5x\n"), "rules:1: bad duration '5x'"));
  CHECK(error("racl greytrap rcpt t@example.net hold 0\n") == "rules:1: hold must be longer than 0");
  CHECK(error("racl greylist default msg\n") == "rules:1: 'msg' needs a value");
  CHECK(starts(error("racl greylist default msg \"" + std::string(201, 'a') + "\"\n"), "rules:1: msg longer"));
}

TEST_CASE("clause shapes") {
  CHECK(error("racl whitelist\n") == "rules:1: a rule needs a clause, or 'default'");
  CHECK(error("racl whitelist default addr 10.0.0.1\n") ==
        "rules:1: 'default' stands alone: it matches every request");
  CHECK(error("racl greytrap default\n").find("a greytrap rule needs a condition") != std::string::npos);
  CHECK(error("racl whitelist not default\n") == "rules:1: 'not default' never matches");
  CHECK(error("racl whitelist not\n") == "rules:1: 'not' needs a clause after it");
  CHECK(error("racl whitelist addr\n") == "rules:1: 'addr' needs a value");
  CHECK(starts(error("racl whitelist addr example.com\n"), "rules:1: not an address or network"));
  CHECK(starts(error("racl whitelist addr /10\\./\n"), "rules:1: addr takes no regular expression"));
  CHECK(starts(error("racl whitelist domain 192.0.2.1\n"), "rules:1: not a domain name"));
  CHECK(starts(error("racl whitelist domain exa$mple.com\n"), "rules:1: not a domain name"));
  CHECK(starts(error("racl whitelist rcpt @\n"), "rules:1: not an address"));
  CHECK(starts(error("racl whitelist rcpt /(/\n"), "rules:1: bad regex /(/"));
  CHECK(starts(error("racl whitelist { }\n"), "rules:1: expected a clause or an option, found '{'"));
}

TEST_CASE("list and dnsrbl shapes") {
  CHECK(error("list \"e\" addr { }\n") == "rules:1: empty list");
  CHECK(error("list \"e\" addr 10.0.0.1\n") == "rules:1: a list's values go between '{' and '}'");
  CHECK(error("list \"e\" addr { 10.0.0.1 } x\n") == "rules:1: text after the list's '}'");
  CHECK(starts(error("list \"e\" addr {\n10.0.0.1\nbad\n}\n"), "rules:3: not an address or network"));
  CHECK(error("list addr { 10.0.0.1 }\n").find("rules:1: list type") == 0);
  CHECK(error("dnsrbl \"d\" zone.example\n") == "rules:1: expected: dnsrbl \"NAME\" ZONE ADDRESS[/MASK]");
  CHECK(starts(error("dnsrbl \"d\" zone..example 127.0.0.2\n"), "rules:1: not a DNS zone"));
  CHECK(starts(error("dnsrbl \"d\" zone.example ::1\n"), "rules:1: expected an IPv4 ADDRESS[/MASK]"));
  CHECK(starts(error("dnsrbl \"d\" zone.example 127.0.0.2/33\n"), "rules:1: expected an IPv4"));
}

TEST_CASE("the error is the first of the file") {
  CHECK(starts(error("racl whitelist default\nracl bogus\nracl alsobogus default\n"), "rules:2:"));
}

TEST_CASE("an empty or comment-only file has no rules") {
  CHECK(parse("")->rules.empty());
  CHECK(parse("# nothing\n\n")->rules.empty());
}

}
