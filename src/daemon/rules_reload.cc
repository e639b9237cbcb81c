#include "daemon/rules_reload.h"

#include <string>

#include "config/rules_file.h"
#include "util/log.h"

namespace greylist {
namespace {

// "FILE: 12 rules, 2 lists, 1 DNS list, greytraps" for the log.
std::string describe(const RuleSet& rules) {
  std::string text = rules.file() + ": " + std::to_string(rules.rule_count()) + " rules, " +
                     std::to_string(rules.list_count()) + " lists, " +
                     std::to_string(rules.dnsrbl_count()) + " DNS lists";
  if (rules.has_greytraps()) text += ", greytraps";
  return text;
}

}  // namespace

Result<std::shared_ptr<const RuleSet>> load_rules(const RulesOptions& options) {
  auto rules = load_rules_file(options);
  if (rules.ok() && rules.value()) log_info("rules " + describe(*rules.value()));
  return rules;
}

Status start_dns_lists(const RuleSet* rules, LazyResolver& resolver) {
  if (rules == nullptr || rules->dnsrbl_count() == 0) return Status::Ok();
  const Status started = resolver.start();
  if (!started.ok()) return Status::Unavailable("DNS lists: " + started.message());
  return Status::Ok();
}

bool reload_rules(const RulesOptions& options, Greylister& greylister, LazyResolver& resolver,
                  Metrics& metrics) {
  auto rules = load_rules(options);
  Status status = rules.ok() ? start_dns_lists(rules.value().get(), resolver) : rules.status();
  if (!status.ok()) {
    log_warning("rules reload failed, keeping the old rules: " + status.message());
    metrics.on_rules_reload(false);
    return false;
  }
  if (!rules.value()) {
    log_info(options.file.empty() ? "rules reloaded: no rules file"
                                   : "rules reloaded: " + options.file + " is absent, no rules");
  }
  greylister.set_rules(rules.value());
  metrics.on_rules_reload(true);
  return true;
}

}  // namespace greylist
