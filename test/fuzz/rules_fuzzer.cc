// Fuzzes the rules file (greylist/rule_set.h): the input up to a line
// "%%" is a rules file; each following line is a request
// "ADDRESS NAME HELO SENDER RECIPIENT [AUTH]" (fields split on spaces).
//
// Invariants: parse() returns; an error is one line "fuzz:LINE: reason"
// with LINE inside the file. A parsed set answers dns_queries() with
// distinct lower-case names; evaluate() never answers `continue`, names a
// rule of this file, gives a greytrap its hold and a blacklist no delay;
// the same request with the same answers decides the same way, and as the
// walk over every rule without the indexes does; assess() agrees with
// evaluate().
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/rules/rule_evaluator.h"
#include "core/rules/rules_parser.h"
#include "fuzz_check.h"
#include "greylist/rule_set.h"

namespace {

using greylist::DnsAnswer;
using greylist::DnsAnswers;
using greylist::Request;
using greylist::RuleAction;
using greylist::RuleMatch;
using greylist::RuleSet;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (!text.empty()) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    text = at == std::string_view::npos ? std::string_view() : text.substr(at + 1);
  }
  return parts;
}

Request request_from(std::string_view line) {
  const auto fields = split(line, ' ');
  auto field = [&](std::size_t i) { return i < fields.size() ? std::string(fields[i]) : std::string(); };
  Request r;
  r.client_address = field(0);
  r.client_name = field(1);
  r.helo_name = field(2);
  r.sender = field(3);
  r.recipient = field(4);
  r.sasl_username = field(5);
  return r;
}

bool same(const std::optional<RuleMatch>& a, const std::optional<RuleMatch>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->rule.line == b->rule.line && a->action == b->action &&
                a->options.delay == b->options.delay && a->continued.size() == b->continued.size());
}

void check_match(const std::optional<RuleMatch>& match, int lines) {
  if (!match) return;
  FUZZ_CHECK(match->action != RuleAction::kContinue);
  FUZZ_CHECK(match->rule.file == "fuzz");
  FUZZ_CHECK(match->rule.line >= 1 && match->rule.line <= lines);
  if (match->action == RuleAction::kGreytrap) FUZZ_CHECK(match->options.hold.has_value());
  if (match->action == RuleAction::kBlacklist) {
    FUZZ_CHECK(!match->options.delay && !match->options.autowhite && !match->options.hold);
    FUZZ_CHECK(!match->options.code || match->options.code->front() == '5');
  }
  if (match->action == RuleAction::kWhitelist) FUZZ_CHECK(match->options.empty());
}

void check_request(const RuleSet& rules, const greylist::RuleSet::Data& data, const Request& request,
                   int lines) {
  const auto assessed = rules.assess(request);
  const auto& queries = assessed.queries;
  if (queries.empty()) FUZZ_CHECK(same(assessed.match, rules.evaluate(request, {})));
  if (!queries.empty()) FUZZ_CHECK(!assessed.match.has_value());
  DnsAnswers listed;
  DnsAnswers failed;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const std::string& name = queries[i].name;
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(queries[j].name != name);
    listed[name] = DnsAnswer{DnsAnswer::Kind::kListed, {{127, 0, 0, static_cast<std::uint8_t>(i + 2)}}};
    failed[name] = DnsAnswer{DnsAnswer::Kind::kFailed, {}};
  }
  for (const DnsAnswers* answers : {&listed, &failed}) {
    const auto match = rules.evaluate(request, *answers);
    check_match(match, lines);
    FUZZ_CHECK(same(match, rules.evaluate(request, *answers)));
    // The rule and list indexes never change a decision.
    const auto subjects = greylist::rules::subjects_of(request);
    FUZZ_CHECK(same(match, greylist::rules::walk_rules(data, subjects, answers, greylist::RuleScope::kAll, false).match));
    // Nor in the scope of an authenticated client (only rules naming auth).
    const auto auth_only = rules.evaluate(request, *answers, greylist::RuleScope::kNamingAuth);
    check_match(auth_only, lines);
    FUZZ_CHECK(same(auth_only, greylist::rules::walk_rules(data, subjects, answers,
                                                           greylist::RuleScope::kNamingAuth, false)
                                   .match));
  }
  // No answers at all decide as failed ones do.
  FUZZ_CHECK(same(rules.evaluate(request, failed), rules.evaluate(request, {})));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto separator = input.find("\n%%\n");
  const std::string_view file = input.substr(0, separator);
  const std::string_view requests =
      separator == std::string_view::npos ? std::string_view() : input.substr(separator + 4);
  const int lines = static_cast<int>(std::count(file.begin(), file.end(), '\n')) + 1;

  auto parsed = RuleSet::parse(file, "fuzz");
  if (!parsed.ok()) {
    const std::string& message = parsed.status().message();
    FUZZ_CHECK(message.rfind("fuzz:", 0) == 0);
    FUZZ_CHECK(message.find('\n') == std::string::npos);
    const int line = std::atoi(message.c_str() + 5);
    FUZZ_CHECK(line >= 1 && line <= lines);
    return 0;
  }
  const RuleSet& rules = *parsed.value();
  auto parsed_data = greylist::rules::parse_rules(file, "fuzz");  // for the unindexed walk
  FUZZ_CHECK(parsed_data.ok());
  int budget = 16;  // requests per input: keeps each run short
  for (const std::string_view line : split(requests, '\n')) {
    if (--budget < 0) break;
    check_request(rules, *parsed_data.value(), request_from(line), lines);
  }
  return 0;
}
