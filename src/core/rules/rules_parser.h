// Parses a whole rules file (syntax: greylist/rule_set.h and
// greylist-milter.rules(5)) into RuleSet::Data, checking it as a whole:
// names defined before use and once, ids unique, options allowed for their
// action. The first error wins, as InvalidArgument("FILE:LINE: what"),
// naming what is not supported when the statement is valid milter-greylist
// but outside the subset. Pure function.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/rules/rule_model.h"
#include "greylist/status.h"

namespace greylist::rules {

Result<std::unique_ptr<RuleSet::Data>> parse_rules(std::string_view text, const std::string& file);

}  // namespace greylist::rules
