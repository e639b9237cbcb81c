// ListIndex: a named list's values arranged for matching in about constant
// time whatever its length: exact values, domains and addresses in hash
// sets (the subject's suffixes and +extension forms looked up), networks
// and regexes tried in turn. Matches exactly when one of the values does
// (value_matches). Immutable; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/rules/rule_model.h"

namespace greylist::rules {

class ListIndex {
 public:
  ListIndex(Subject subject, const std::vector<Value>& values);
  bool matches(const Subjects& subjects) const;

 private:
  bool matches_name(std::string_view name) const;
  bool matches_address(std::string_view address) const;

  Subject subject_;
  std::unordered_set<std::string> exact_;         // helo, auth values
  std::unordered_set<std::string> at_or_under_;   // domain names; from/rcpt bare domains
  std::unordered_set<std::string> under_only_;    // domain ".name"
  std::unordered_set<std::string> at_domains_;    // from/rcpt "@domain"
  std::unordered_set<std::string> addresses_;     // from/rcpt "user@domain"
  std::unordered_set<std::string> local_parts_;   // from/rcpt "user@"
  std::vector<Value> others_;                     // networks, regexes
};

}  // namespace greylist::rules
