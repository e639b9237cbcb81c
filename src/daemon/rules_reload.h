// The rules file (--rules) in the daemon: read at start, read again on
// SIGHUP (and by the config-file reload), and the DNS resolver started
// when the rules name a DNS list.
#pragma once

#include <memory>

#include "config/daemon_options.h"
#include "daemon/metrics.h"
#include "dns/lazy_resolver.h"
#include "greylist/greylister.h"
#include "greylist/rule_set.h"

namespace greylist {

// load_rules_file() (config/rules_file.h: nullptr when there are none,
// FILE:LINE errors), with a log line of the rules' counts.
Result<std::shared_ptr<const RuleSet>> load_rules(const RulesOptions& options);

// Starts `resolver` when `rules` name a DNS list (it then stays started);
// AresResolver::create's errors. Ok without such rules.
Status start_dns_lists(const RuleSet* rules, LazyResolver& resolver);

// SIGHUP: loads the rules `options` name again. Valid (or none): the
// resolver is started if they need it, then greylister.set_rules() swaps
// them in at once (a decision in progress keeps the rules of its plan),
// and their counts are logged. Invalid or unreadable, or the resolver
// cannot start: the old rules stay in force and the FILE:LINE error is
// logged as a warning. Counted in `metrics`; returns whether the rules
// were replaced. Call from one thread at a time.
bool reload_rules(const RulesOptions& options, Greylister& greylister, LazyResolver& resolver,
                  Metrics& metrics);

}  // namespace greylist
