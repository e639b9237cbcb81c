// The replies of rule decisions, for both front ends: a rejection (a
// `blacklist` rule, Decision::Action::kReject) and a greylist or greytrap
// rule's overrides of the greylist reply (its code, ecode and msg options).
//
// The rules parser checks these options already; they are checked again
// here, so a reply can never carry a code of the wrong class or a line
// break: a rejection only takes 5NN and 5.N.N, a greylist only 4NN and
// 4.N.N (anything else falls back to the default), and a msg is made one
// line of printable ASCII, at most kMaxRuleReplyText bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "greylist/rule_set.h"

namespace greylist {

inline constexpr std::string_view kRejectCode = "550";
inline constexpr std::string_view kRejectEnhancedCode = "5.7.1";
inline constexpr std::size_t kMaxRuleReplyText = 480;

struct RuleReply {
  std::string code;           // "550"; empty: the front end's default
  std::string enhanced_code;  // "5.7.1"; empty: the front end's default
  std::string text;           // one printable line; empty: the front end's default
};

// A rejection: the rule's code, ecode and msg when valid, else 550, 5.7.1
// and "Rejected by local policy (rule ID)" (or "(rule at line N)" for a
// rule without an id: the rules file's path is not told to the client).
// Every field is set.
RuleReply reject_reply(const std::optional<RuleMatch>& rule);

// A greylist (or greytrap) rule's overrides: each field set only when the
// rule gives a valid one of class 4, empty otherwise (and without a rule).
RuleReply greylist_overrides(const std::optional<RuleMatch>& rule);

// `text` as one line: CR, LF and other control or non-ASCII bytes become
// spaces, then cut to kMaxRuleReplyText bytes.
std::string rule_reply_text(std::string_view text);

}  // namespace greylist
