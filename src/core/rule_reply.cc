#include "greylist/rule_reply.h"

#include <algorithm>

namespace greylist {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "CNN" of class `cls`.
bool valid_code(std::string_view code, char cls) {
  return code.size() == 3 && code[0] == cls && is_digit(code[1]) && is_digit(code[2]);
}

// "C.S.D" of class `cls`, subject and detail 1 to 3 digits (RFC 3463).
bool valid_enhanced_code(std::string_view code, char cls) {
  if (code.size() < 5 || code[0] != cls || code[1] != '.') return false;
  const auto dot = code.find('.', 2);
  if (dot == std::string_view::npos) return false;
  const std::string_view subject = code.substr(2, dot - 2);
  const std::string_view detail = code.substr(dot + 1);
  const auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 3 && std::all_of(part.begin(), part.end(), is_digit);
  };
  return digits(subject) && digits(detail);
}

// The rule's valid options of class `cls`; empty fields for the others.
RuleReply overrides(const std::optional<RuleMatch>& rule, char cls) {
  RuleReply reply;
  if (!rule) return reply;
  const RuleOptions& options = rule->options;
  if (options.code && valid_code(*options.code, cls)) reply.code = *options.code;
  if (options.ecode && valid_enhanced_code(*options.ecode, cls)) reply.enhanced_code = *options.ecode;
  if (options.msg) reply.text = rule_reply_text(*options.msg);
  return reply;
}

}  // namespace

std::string rule_reply_text(std::string_view text) {
  text = text.substr(0, std::min(text.size(), kMaxRuleReplyText));
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = ' ';
  }
  return out;
}

RuleReply reject_reply(const std::optional<RuleMatch>& rule) {
  RuleReply reply = overrides(rule, '5');
  if (reply.code.empty()) reply.code = std::string(kRejectCode);
  if (reply.enhanced_code.empty()) reply.enhanced_code = std::string(kRejectEnhancedCode);
  if (reply.text.empty()) {
    std::string which = "local policy";
    if (rule && !rule->rule.id.empty()) {
      which += " (rule " + rule->rule.id + ")";
    } else if (rule) {
      which += " (rule at line " + std::to_string(rule->rule.line) + ")";
    }
    reply.text = rule_reply_text("Rejected by " + which);
  }
  return reply;
}

RuleReply greylist_overrides(const std::optional<RuleMatch>& rule) { return overrides(rule, '4'); }

}  // namespace greylist
