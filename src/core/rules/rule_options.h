// The options of a racl rule (delay, autowhite, hold, code, ecode, msg):
// parsing each, and checking them against the rule's action.
//
// Allowed: greylist and continue: delay, autowhite, code, ecode, msg;
// greytrap: hold, code, ecode, msg; blacklist: code, ecode, msg;
// whitelist: none. code is "4NN" for a temporary failure (greylist,
// continue, greytrap) and "5NN" for blacklist; ecode is "C.S.D" (RFC 3463,
// class C the code's first digit); msg is printable ASCII, at most
// kMaxMessageBytes. Errors are reasons without the file position.
#pragma once

#include <string_view>

#include "core/rules/rules_lexer.h"
#include "greylist/rule_set.h"
#include "greylist/status.h"

namespace greylist::rules {

inline constexpr std::size_t kMaxMessageBytes = 200;

bool is_option_word(std::string_view word);

// Sets the option `word` from `value`. InvalidArgument on a bad value or
// an option given twice.
Status parse_option(std::string_view word, const Token& value, RuleOptions& options);

// InvalidArgument naming the first option the action does not take, or a
// code/ecode of the wrong class.
Status check_options(RuleAction action, const RuleOptions& options);

// The options of `options` that `action` takes (the others dropped).
RuleOptions options_for(RuleAction action, const RuleOptions& options);

}  // namespace greylist::rules
