#include "daemon/hup_reload.h"

#include "daemon/rules_reload.h"
#include "daemon/service_manager.h"
#include "greylist/key_layout.h"
#include "greylist/static_whitelist.h"
#include "util/log.h"

namespace greylist {
namespace {

std::string option_list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "--" : ", --") + name;
  return text;
}

}  // namespace

void reload_whitelists(const DaemonOptions& options, Greylister& greylister, Metrics& metrics) {
  auto whitelist = StaticWhitelist::load(options.whitelist_clients, options.whitelist_recipients);
  if (!whitelist.ok()) {
    log_warning("whitelist reload failed, keeping the old lists: " + whitelist.status().message());
    metrics.on_whitelist_reload(false);
    notify_status("serving (whitelist reload failed)");
    return;
  }
  for (const auto& warning : whitelist.value().warnings) log_warning(warning);
  const auto& loaded = *whitelist.value().whitelist;
  log_info("whitelists reloaded: " + std::to_string(loaded.client_rule_count()) + " client rules, " +
           std::to_string(loaded.recipient_rule_count()) + " recipient rules");
  greylister.set_whitelist(whitelist.value().whitelist);
  metrics.on_whitelist_reload(true);
  notify_status("serving");
}

void HupReload::reload() {
  log_info("HUP received: reloading the configuration, the whitelists and the rules...");
  notify_reloading();
  reload_settings();
  reload_whitelists(running_, targets_.greylister, targets_.metrics);
  reload_rules(running_.rules, targets_.greylister, targets_.resolver, targets_.metrics);
}

void HupReload::reload_settings() {
  const std::string source =
      running_.config_file.empty() ? std::string("the command line") : running_.config_file;
  auto outcome = config_.read(running_);
  if (!outcome.ok()) {
    log_warning("configuration reload failed, every setting keeps its value: " +
                outcome.status().message());
    targets_.metrics.on_config_reload(false, 0);
    return;
  }
  for (const auto& name : outcome.value().need_restart) {
    log_warning("--" + name + " changed in " + source +
                ": it needs a restart to take effect, the running value stays");
  }
  if (outcome.value().applied.empty()) {
    log_info("configuration reloaded from " + source + ": no reloadable setting changed");
    targets_.metrics.on_config_reload(true, outcome.value().need_restart.size());
    return;
  }
  const bool applied = apply(outcome.value().options);
  targets_.metrics.on_config_reload(applied, outcome.value().need_restart.size());
  if (!applied) return;
  log_info("configuration reloaded from " + source + ": now in force: " +
           option_list(outcome.value().applied));
}

bool HupReload::apply(const DaemonOptions& next) {
  GreylistConfig core = next.greylist;
  core.privacy_key = targets_.greylister.config().privacy_key;  // read from its file at start
  const auto refuse = [](const std::string& why) {
    log_warning("configuration reload failed, every setting keeps its value: " + why);
    return false;
  };
  // What can refuse comes first, so a refusal changes nothing. The keys'
  // settings are restart-only (config_reload.cc): this holds by the table.
  if (const auto keying = keying_difference(core, targets_.greylister.config())) {
    return refuse("--" + std::string(*keying) + " cannot change while the daemon runs");
  }
  if (targets_.milter != nullptr) {
    if (const Status set = targets_.milter->set_replies(next.milter); !set.ok()) {
      return refuse(set.message());
    }
  }
  if (const Status set = targets_.greylister.set_config(core); !set.ok()) {
    return refuse(set.message());
  }
  if (targets_.policy != nullptr) targets_.policy->set_replies(next.policy);
  targets_.expiry.set_config(core);
  set_log_verbosity(next.log.verbose, next.log.quiet);
  running_ = next;
  return true;
}

}  // namespace greylist
