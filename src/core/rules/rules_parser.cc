#include "core/rules/rules_parser.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/rules/list_index.h"
#include "core/rules/rule_index.h"
#include "core/rules/rule_options.h"
#include "core/rules/rule_value.h"
#include "core/rules/rules_lexer.h"

namespace greylist::rules {
namespace {

constexpr std::size_t kMaxNameBytes = 64;
constexpr std::size_t kMaxZoneBytes = 180;  // leaves room for 64 bytes of IPv6 nibbles

const char* const kClauseHelp =
    "clauses: addr, domain, from, rcpt, helo, auth, list, dnsrbl, default, each after an "
    "optional 'not'; options: delay, autowhite, hold, code, ecode, msg";

std::optional<RuleAction> action_from_word(std::string_view word) {
  if (word == "whitelist") return RuleAction::kWhitelist;
  if (word == "greylist") return RuleAction::kGreylist;
  if (word == "blacklist") return RuleAction::kBlacklist;
  if (word == "continue") return RuleAction::kContinue;
  if (word == "greytrap") return RuleAction::kGreytrap;
  return std::nullopt;
}

bool is_value_token(const Token* token) {
  return token != nullptr &&
         (token->kind == Token::Kind::kWord || token->kind == Token::Kind::kString);
}

// The tokens of one statement, read front to back.
class Cursor {
 public:
  explicit Cursor(const Statement& statement) : statement_(statement) {}
  const Token* peek() const {
    return pos_ < statement_.tokens.size() ? &statement_.tokens[pos_] : nullptr;
  }
  const Token* next() { return pos_ < statement_.tokens.size() ? &statement_.tokens[pos_++] : nullptr; }
  int line() const { return pos_ > 0 ? statement_.tokens[pos_ - 1].line : statement_.line; }

 private:
  const Statement& statement_;
  std::size_t pos_ = 0;
};

class Parser {
 public:
  explicit Parser(const std::string& file) : file_(file), data_(std::make_unique<RuleSet::Data>()) {
    data_->file = file;
  }

  Result<std::unique_ptr<RuleSet::Data>> run(std::string_view text) {
    auto statements = split_statements(text, file_);
    if (!statements.ok()) return statements.status();
    for (const Statement& statement : statements.value()) {
      if (Status status = statement_(statement); !status.ok()) return status;
    }
    data_->index = std::make_shared<const RuleIndex>(data_->rules);
    return std::move(data_);
  }

 private:
  Status error(int line, const std::string& message) const { return error_at(file_, line, message); }

  Status statement_(const Statement& statement) {
    const Token& first = statement.tokens.front();
    if (first.kind == Token::Kind::kWord) {
      if (first.text == "racl" || first.text == "acl") return racl(statement);
      if (first.text == "list") return list(statement);
      if (first.text == "dnsrbl") return dnsrbl(statement);
      if (first.text == "dacl") {
        return error(first.line, "'dacl' (data-stage rules) is not supported: only racl rules");
      }
    }
    return error(first.line, describe(first) +
                                 " is not supported: a rules file holds racl, list and dnsrbl "
                                 "statements");
  }

  // A quoted or bare name of a list or dnsrbl, checked.
  Result<std::string> name(Cursor& cursor, const char* what) {
    const Token* token = cursor.next();
    if (!is_value_token(token) || token->text.empty() || token->text.size() > kMaxNameBytes) {
      return error(cursor.line(), std::string(what) + " needs a name (1 to 64 bytes, quoted)");
    }
    return token->text;
  }

  // The name a list or dnsrbl statement defines, not defined before.
  Result<std::string> new_name(Cursor& cursor, const char* what, int line) {
    auto defined = name(cursor, what);
    if (!defined.ok()) return defined.status();
    const auto [it, fresh] = defined_.emplace(std::string(what) + " \"" + defined.value() + "\"", line);
    if (!fresh) return error(line, it->first + " already defined at line " + std::to_string(it->second));
    return defined;
  }

  Status list(const Statement& statement) {
    Cursor cursor(statement);
    cursor.next();
    auto list_name = new_name(cursor, "list", statement.line);
    if (!list_name.ok()) return list_name.status();
    const Token* kind = cursor.next();
    const auto subject = kind && kind->kind == Token::Kind::kWord ? subject_from_name(kind->text)
                                                                  : std::nullopt;
    if (!subject) {
      return error(cursor.line(), (kind ? "list type " + describe(*kind) : std::string("no list type")) +
                                      " is not supported (addr, domain, from, rcpt, helo, auth)");
    }
    auto values = list_values(cursor, *subject);
    if (!values.ok()) return values.status();
    auto made = std::make_shared<ValueList>(
        ValueList{list_name.value(), *subject, statement.line, std::move(values).value(), nullptr});
    made->index = std::make_shared<const ListIndex>(made->subject, made->values);
    lists_.emplace(made->name, made);
    data_->lists.push_back(std::move(made));
    return Status::Ok();
  }

  Result<std::vector<Value>> list_values(Cursor& cursor, Subject subject) {
    const Token* open = cursor.next();
    if (open == nullptr || open->kind != Token::Kind::kOpenBrace) {
      return error(cursor.line(), "a list's values go between '{' and '}'");
    }
    std::vector<Value> values;
    for (const Token* token = cursor.next(); token != nullptr; token = cursor.next()) {
      if (token->kind == Token::Kind::kCloseBrace) {
        if (cursor.peek() != nullptr) return error(cursor.peek()->line, "text after the list's '}'");
        if (values.empty()) return error(token->line, "empty list");
        return values;
      }
      auto value = parse_value(subject, *token);
      if (!value.ok()) return error(token->line, value.status().message());
      values.push_back(std::move(value).value());
    }
    return error(cursor.line(), "'{' is never closed");
  }

  Status dnsrbl(const Statement& statement) {
    Cursor cursor(statement);
    cursor.next();
    auto list_name = new_name(cursor, "dnsrbl", statement.line);
    if (!list_name.ok()) return list_name.status();
    const Token* zone = cursor.next();
    const Token* address = cursor.next();
    if (!is_value_token(zone) || !is_value_token(address) || cursor.peek() != nullptr) {
      return error(statement.line, "expected: dnsrbl \"NAME\" ZONE ADDRESS[/MASK]");
    }
    auto zone_name = dns_zone(zone->text);
    if (!zone_name) return error(zone->line, "not a DNS zone: " + describe(*zone));
    const auto match = IpNetwork::parse(address->text);
    if (!match || match->base().family() != IpAddress::Family::kV4) {
      return error(address->line, "expected an IPv4 ADDRESS[/MASK] (the list's A record), found " +
                                      describe(*address));
    }
    dns_lists_.emplace(list_name.value(), data_->dns_lists.size());
    data_->dns_lists.push_back(DnsList{list_name.value(), *zone_name, *match, statement.line});
    return Status::Ok();
  }

  static std::optional<std::string> dns_zone(std::string_view text) {
    if (!text.empty() && text.back() == '.') text.remove_suffix(1);
    if (text.empty() || text.size() > kMaxZoneBytes || text.front() == '.' ||
        text.find("..") != std::string_view::npos) {
      return std::nullopt;
    }
    std::string zone;
    for (const char c : text) {
      if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '.' && c != '_') {
        return std::nullopt;
      }
      zone += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return zone;
  }

  Status racl(const Statement& statement) {
    Cursor cursor(statement);
    cursor.next();
    Rule rule;
    rule.ref = RuleRef{file_, statement.line, ""};
    if (Status status = rule_head(cursor, rule); !status.ok()) return status;
    while (const Token* token = cursor.next()) {
      if (token->kind != Token::Kind::kWord) {
        return error(token->line, "expected a clause or an option, found " + describe(*token) +
                                      " (" + kClauseHelp + ")");
      }
      Status status = is_option_word(token->text) ? option(cursor, *token, rule)
                                                  : clause(cursor, *token, rule);
      if (!status.ok()) return status;
    }
    if (Status status = finish_rule(rule); !status.ok()) return status;
    if (data_->rules.size() >= RuleSet::kMaxRules) {
      return error(statement.line, "more than " + std::to_string(RuleSet::kMaxRules) + " rules");
    }
    data_->rules.push_back(std::move(rule));
    return Status::Ok();
  }

  // ["ID"] ACTION
  Status rule_head(Cursor& cursor, Rule& rule) {
    const Token* token = cursor.next();
    if (token != nullptr && token->kind == Token::Kind::kString) {
      if (token->text.empty() || token->text.size() > kMaxNameBytes ||
          token->text.find_first_of(" \t") != std::string::npos) {
        return error(token->line, "a rule id is 1 to 64 bytes without spaces");
      }
      if (auto it = ids_.find(token->text); it != ids_.end()) {
        return error(token->line, "rule id \"" + token->text + "\" already used at line " +
                                      std::to_string(it->second));
      }
      ids_.emplace(token->text, rule.ref.line);
      rule.ref.id = token->text;
      token = cursor.next();
    }
    const auto action = token && token->kind == Token::Kind::kWord ? action_from_word(token->text)
                                                                    : std::nullopt;
    if (!action) {
      return error(cursor.line(), "expected an action (whitelist, greylist, blacklist, continue, "
                                  "greytrap)" + (token ? ", found " + describe(*token) : std::string()));
    }
    rule.action = *action;
    return Status::Ok();
  }

  Status option(Cursor& cursor, const Token& word, Rule& rule) {
    const Token* value = cursor.next();
    if (value == nullptr) return error(word.line, describe(word) + " needs a value");
    if (Status status = parse_option(word.text, *value, rule.options); !status.ok()) {
      return error(value->line, status.message());
    }
    return Status::Ok();
  }

  Status clause(Cursor& cursor, const Token& first, Rule& rule) {
    Clause clause;
    const Token* word = &first;
    if (first.text == "not") {
      clause.negated = true;
      word = cursor.next();
      if (word == nullptr || word->kind != Token::Kind::kWord) {
        return error(first.line, "'not' needs a clause after it");
      }
    }
    if (word->text == "default") {
      if (clause.negated) return error(word->line, "'not default' never matches");
      clause.test = DefaultClause{};
    } else if (word->text == "dnsrbl") {
      auto index = dns_reference(cursor);
      if (!index.ok()) return index.status();
      clause.test = DnsClause{index.value()};
      rule.needs_dns = true;
    } else if (word->text == "list") {
      auto list = list_reference(cursor, std::nullopt);
      if (!list.ok()) return list.status();
      clause.test = ListClause{std::move(list).value()};
    } else if (const auto subject = subject_from_name(word->text)) {
      auto test = subject_clause(cursor, *word, *subject);
      if (!test.ok()) return test.status();
      clause.test = std::move(test).value();
    } else {
      return error(word->line, describe(*word) + " is not supported (" + kClauseHelp + ")");
    }
    if (names_auth(clause)) rule.names_auth = true;
    rule.clauses.push_back(std::move(clause));
    return Status::Ok();
  }

  static bool names_auth(const Clause& clause) {
    if (const auto* value = std::get_if<ValueClause>(&clause.test)) {
      return value->subject == Subject::kAuth;
    }
    const auto* list = std::get_if<ListClause>(&clause.test);
    return list != nullptr && list->list->subject == Subject::kAuth;
  }

  using ClauseTest = std::variant<DefaultClause, ValueClause, ListClause, DnsClause>;

  // SUBJECT VALUE or SUBJECT list "NAME"
  Result<ClauseTest> subject_clause(Cursor& cursor, const Token& word, Subject subject) {
    const Token* value = cursor.next();
    if (value == nullptr) return error(word.line, describe(word) + " needs a value");
    if (value->kind == Token::Kind::kWord && value->text == "list") {
      auto list = list_reference(cursor, subject);
      if (!list.ok()) return list.status();
      return ClauseTest(ListClause{std::move(list).value()});
    }
    auto parsed = parse_value(subject, *value);
    if (!parsed.ok()) return error(value->line, parsed.status().message());
    return ClauseTest(ValueClause{subject, std::move(parsed).value()});
  }

  Result<std::shared_ptr<const ValueList>> list_reference(Cursor& cursor,
                                                          std::optional<Subject> subject) {
    auto list_name = name(cursor, "list");
    if (!list_name.ok()) return list_name.status();
    const auto it = lists_.find(list_name.value());
    if (it == lists_.end()) {
      return error(cursor.line(), "list \"" + list_name.value() + "\" is not defined above");
    }
    if (subject && *subject != it->second->subject) {
      return error(cursor.line(), "list \"" + list_name.value() + "\" is a " +
                                      subject_name(it->second->subject) + " list, not " +
                                      subject_name(*subject));
    }
    return it->second;
  }

  Result<std::size_t> dns_reference(Cursor& cursor) {
    auto list_name = name(cursor, "dnsrbl");
    if (!list_name.ok()) return list_name.status();
    const auto it = dns_lists_.find(list_name.value());
    if (it == dns_lists_.end()) {
      return error(cursor.line(), "dnsrbl \"" + list_name.value() + "\" is not defined above");
    }
    return it->second;
  }

  Status finish_rule(Rule& rule) const {
    const int line = rule.ref.line;
    if (rule.clauses.empty()) return error(line, "a rule needs a clause, or 'default'");
    const bool has_default = std::any_of(rule.clauses.begin(), rule.clauses.end(), [](const Clause& c) {
      return std::holds_alternative<DefaultClause>(c.test);
    });
    if (has_default && rule.clauses.size() > 1) {
      return error(line, "'default' stands alone: it matches every request");
    }
    if (has_default && rule.action == RuleAction::kGreytrap) {
      return error(line, "a greytrap rule needs a condition (e.g. rcpt trap@example.net)");
    }
    if (Status status = check_options(rule.action, rule.options); !status.ok()) {
      return error(line, status.message());
    }
    if (rule.action == RuleAction::kGreytrap && !rule.options.hold) {
      rule.options.hold = RuleSet::kDefaultHold;
    }
    // All clauses must hold: try the cheap ones first.
    std::stable_sort(rule.clauses.begin(), rule.clauses.end(), [](const Clause& a, const Clause& b) {
      return clause_cost(a) < clause_cost(b);
    });
    return Status::Ok();
  }

  static int clause_cost(const Clause& clause) {
    if (const auto* value = std::get_if<ValueClause>(&clause.test)) {
      return std::holds_alternative<RuleRegex>(value->value) ? 3 : 1;
    }
    if (std::holds_alternative<ListClause>(clause.test)) return 2;
    if (std::holds_alternative<DnsClause>(clause.test)) return 4;
    return 0;
  }

  const std::string& file_;
  std::unique_ptr<RuleSet::Data> data_;
  std::map<std::string, std::shared_ptr<const ValueList>> lists_;
  std::map<std::string, std::size_t> dns_lists_;
  std::map<std::string, int> ids_;
  std::map<std::string, int> defined_;  // "list \"NAME\"", "dnsrbl \"NAME\"": line
};

}  // namespace

Result<std::unique_ptr<RuleSet::Data>> parse_rules(std::string_view text, const std::string& file) {
  return Parser(file).run(text);
}

}  // namespace greylist::rules
