#include "greylist/rule_reply.h"

#include <doctest/doctest.h>

using namespace greylist;

namespace {
RuleMatch match(RuleAction action, std::string id = {}) {
  RuleMatch m;
  m.action = action;
  m.rule.file = "/etc/greylist-milter/rules";
  m.rule.line = 12;
  m.rule.id = std::move(id);
  return m;
}
}  // namespace

TEST_SUITE("rule_reply") {

TEST_CASE("a rejection by default: 550 5.7.1, the rule's id or line, never the file's path") {
  const RuleReply with_id = reject_reply(match(RuleAction::kBlacklist, "bad-net"));
  CHECK(with_id.code == "550");
  CHECK(with_id.enhanced_code == "5.7.1");
  CHECK(with_id.text == "Rejected by local policy (rule bad-net)");
  const RuleReply by_line = reject_reply(match(RuleAction::kBlacklist));
  CHECK(by_line.text == "Rejected by local policy (rule at line 12)");
  CHECK(by_line.text.find("/etc") == std::string::npos);
  CHECK(reject_reply(std::nullopt).text == "Rejected by local policy");
}

TEST_CASE("a rejection takes the rule's code, ecode and msg when they are of class 5") {
  RuleMatch m = match(RuleAction::kBlacklist);
  m.options.code = "554";
  m.options.ecode = "5.7.26";
  m.options.msg = "Listed at bl.example";
  const RuleReply reply = reject_reply(m);
  CHECK(reply.code == "554");
  CHECK(reply.enhanced_code == "5.7.26");
  CHECK(reply.text == "Listed at bl.example");

  // Of class 4 (or malformed): the defaults, never a temporary rejection.
  for (const char* code : {"451", "55", "5x0", "5500"}) {
    CAPTURE(code);
    m.options.code = code;
    CHECK(reject_reply(m).code == "550");
  }
  for (const char* ecode : {"4.7.1", "5.7", "5..1", "5.7.1234", "5.7.1.", "5:7:1"}) {
    CAPTURE(ecode);
    m.options.ecode = ecode;
    CHECK(reject_reply(m).enhanced_code == "5.7.1");
  }
}

TEST_CASE("greylist overrides: only those the rule sets, only of class 4") {
  CHECK(greylist_overrides(std::nullopt).code.empty());
  RuleMatch m = match(RuleAction::kGreylist);
  const RuleReply none = greylist_overrides(m);
  CHECK(none.code.empty());
  CHECK(none.enhanced_code.empty());
  CHECK(none.text.empty());
  m.options.code = "451";
  m.options.ecode = "4.7.1";
  m.options.msg = "Come back in 15 minutes";
  const RuleReply set = greylist_overrides(m);
  CHECK(set.code == "451");
  CHECK(set.enhanced_code == "4.7.1");
  CHECK(set.text == "Come back in 15 minutes");
  m.options.code = "550";
  m.options.ecode = "5.7.1";
  const RuleReply wrong_class = greylist_overrides(m);
  CHECK(wrong_class.code.empty());
  CHECK(wrong_class.enhanced_code.empty());
}

TEST_CASE("a msg is one printable line, bounded") {
  RuleMatch m = match(RuleAction::kBlacklist);
  m.options.msg = std::string("go away\r\naction=OK\0\x7f\xc3\xa9", 22);
  const RuleReply reply = reject_reply(m);
  CHECK(reply.text == "go away  action=OK    ");
  CHECK(rule_reply_text(std::string(1000, 'x')).size() == kMaxRuleReplyText);
}

}  // TEST_SUITE
