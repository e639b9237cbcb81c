// The parsed form of a rules file (greylist/rule_set.h): what the parser
// builds and the evaluator walks. Plain data; immutable once in a RuleSet.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/whitelist_rules.h"
#include "greylist/ip_address.h"
#include "greylist/request.h"
#include "greylist/rule_set.h"

namespace greylist::rules {

// What a clause or a list looks at in the request.
enum class Subject { kAddr, kDomain, kFrom, kRcpt, kHelo, kAuth };

// "addr", "domain", ...; and back (nullopt for any other word).
const char* subject_name(Subject subject);
std::optional<Subject> subject_from_name(std::string_view word);

// "@domain" in from/rcpt: any address at exactly that domain.
struct AtDomain {
  std::string domain;  // lower case
};
// helo/auth: the whole value, case ignored.
struct ExactText {
  std::string text;  // lower case
};
// /REGEX/ on any subject but addr, with its prefilter (regex_literal.h).
struct RuleRegex {
  whitelist::Regex regex;
  std::string required;  // lower case; empty: no prefilter
};

// One value of a clause or a list. Which alternative depends on the subject:
// addr: IpNetwork; domain: NameSuffix or RuleRegex; from, rcpt:
// RecipientRule (never its Regex), AtDomain or RuleRegex; helo, auth:
// ExactText or RuleRegex.
using Value = std::variant<IpNetwork, whitelist::NameSuffix, whitelist::RecipientRule, AtDomain,
                           ExactText, RuleRegex>;

class ListIndex;  // list_index.h
class RuleIndex;  // rule_index.h

struct ValueList {
  std::string name;
  Subject subject = Subject::kAddr;
  int line = 0;
  std::vector<Value> values;
  std::shared_ptr<const ListIndex> index;  // built from values by the parser
};

struct DnsList {
  std::string name;
  std::string zone;     // lower case, no final dot
  IpNetwork match;      // an A record inside it means "listed"
  int line = 0;
};

struct ValueClause {
  Subject subject;
  Value value;
};
struct ListClause {
  std::shared_ptr<const ValueList> list;
};
struct DnsClause {
  std::size_t dns_list;  // index in Data::dns_lists
};
struct DefaultClause {};

struct Clause {
  std::variant<DefaultClause, ValueClause, ListClause, DnsClause> test;
  bool negated = false;
};

struct Rule {
  RuleRef ref;
  RuleAction action = RuleAction::kGreylist;
  std::vector<Clause> clauses;
  RuleOptions options;
  bool needs_dns = false;  // has a dnsrbl clause
  // Has an auth clause (a value or an auth list, negated or not): the only
  // rules that apply to a client that authenticated (RuleScope).
  bool names_auth = false;
};

// The request's fields as the clauses read them, in lower case (every
// comparison ignores case), computed once per request.
struct Subjects {
  std::optional<IpAddress> address;  // nullopt: addr clauses are false
  std::string client_name;           // empty when "unknown"
  std::string sender;
  std::string recipient;
  std::string helo;
  std::string auth;
};
Subjects subjects_of(const Request& request);

}  // namespace greylist::rules

namespace greylist {

struct RuleSet::Data {
  std::string file;
  std::vector<rules::Rule> rules;
  std::vector<rules::DnsList> dns_lists;
  std::vector<std::shared_ptr<const rules::ValueList>> lists;
  std::shared_ptr<const rules::RuleIndex> index;  // of `rules`; never null in a RuleSet
};

}  // namespace greylist
