#include "greylist/rule_set.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/rules/rule_evaluator.h"
#include "core/rules/rule_index.h"
#include "core/rules/rule_model.h"
#include "core/rules/rules_parser.h"

namespace greylist {

const char* rule_action_name(RuleAction action) {
  switch (action) {
    case RuleAction::kWhitelist: return "whitelist";
    case RuleAction::kGreylist: return "greylist";
    case RuleAction::kBlacklist: return "blacklist";
    case RuleAction::kContinue: return "continue";
    case RuleAction::kGreytrap: return "greytrap";
  }
  return "?";
}

std::string RuleRef::to_string() const {
  std::string text = file + ":" + std::to_string(line);
  if (!id.empty()) text += " (" + id + ")";
  return text;
}

std::string RuleRef::label() const { return id.empty() ? file + ":" + std::to_string(line) : id; }

namespace {

bool any_greytrap(const RuleSet::Data& data) {
  for (const auto& rule : data.rules) {
    if (rule.action == RuleAction::kGreytrap) return true;
  }
  return false;
}

bool any_naming_auth(const RuleSet::Data& data) {
  for (const auto& rule : data.rules) {
    if (rule.names_auth) return true;
  }
  return false;
}

std::optional<std::chrono::seconds> any_longest_autowhite(const RuleSet::Data& data) {
  std::optional<std::chrono::seconds> longest;
  for (const auto& rule : data.rules) {
    if (rule.options.autowhite && (!longest || *rule.options.autowhite > *longest)) {
      longest = rule.options.autowhite;
    }
  }
  return longest;
}

}  // namespace

RuleSet::RuleSet() : data_(std::make_unique<Data>()) {
  data_->index = std::make_shared<const rules::RuleIndex>(data_->rules);
}
RuleSet::RuleSet(std::unique_ptr<Data> data)
    : data_(std::move(data)),
      has_greytraps_(any_greytrap(*data_)),
      names_auth_(any_naming_auth(*data_)),
      longest_autowhite_(any_longest_autowhite(*data_)) {}
RuleSet::~RuleSet() = default;

Result<std::shared_ptr<const RuleSet>> RuleSet::parse(std::string_view text,
                                                      const std::string& file) {
  if (text.size() > kMaxFileBytes) {
    return Status::InvalidArgument(file + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
  }
  auto data = rules::parse_rules(text, file);
  if (!data.ok()) return data.status();
  return std::shared_ptr<const RuleSet>(std::make_shared<RuleSet>(std::move(data).value()));
}

Result<std::shared_ptr<const RuleSet>> RuleSet::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError(path + ": " + std::strerror(errno));
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      return Status::IoError(path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
  }
  if (in.bad()) return Status::IoError(path + ": read error");
  return parse(text, path);
}

RuleAssessment RuleSet::assess(const Request& request, RuleScope scope) const {
  if (scope == RuleScope::kNamingAuth && !names_auth_) return {};  // no walk: nothing applies
  return rules::walk_rules(*data_, rules::subjects_of(request), nullptr, scope);
}

std::vector<DnsQuery> RuleSet::dns_queries(const Request& request) const {
  return assess(request).queries;
}

std::optional<RuleMatch> RuleSet::evaluate(const Request& request, const DnsAnswers& answers,
                                           RuleScope scope) const {
  if (scope == RuleScope::kNamingAuth && !names_auth_) return std::nullopt;
  return rules::walk_rules(*data_, rules::subjects_of(request), &answers, scope).match;
}

std::size_t RuleSet::rule_count() const { return data_->rules.size(); }
std::size_t RuleSet::list_count() const { return data_->lists.size(); }
std::size_t RuleSet::dnsrbl_count() const { return data_->dns_lists.size(); }
const std::string& RuleSet::file() const { return data_->file; }

bool RuleSet::has_greytraps() const { return has_greytraps_; }
bool RuleSet::names_auth() const { return names_auth_; }

std::optional<std::chrono::seconds> RuleSet::longest_autowhite() const {
  return longest_autowhite_;
}

}  // namespace greylist
