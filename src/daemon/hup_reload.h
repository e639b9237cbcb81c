// HupReload: what the running daemon does on SIGHUP.
//
// 1. The settings (ConfigReload: the config file and the start's command
//    line, the command line winning). An invalid file is a warning naming
//    what is wrong, and every setting keeps its running value. Otherwise
//    each changed restart-only setting is a warning naming it (its running
//    value stays until a restart), and the changed reloadable ones take
//    effect for the next request (policy) or connection (milter): the
//    core's delays, lifetimes and auto-whitelist thresholds, the expiry
//    sweep's lifetimes, the reply texts, header and codes, log verbosity.
// 2. The whitelists, then the rules, from the files the settings now name:
//    a complete new list replaces the old one in one atomic swap, so a
//    request in flight sees either, never half of one; on any error the old
//    one stays in force (warning).
// Runs on the main thread; what it changes is safe to change while the
// front ends serve.
#pragma once

#include "config/daemon_options.h"
#include "daemon/config_reload.h"
#include "daemon/expiry_thread.h"
#include "daemon/metrics.h"
#include "dns/lazy_resolver.h"
#include "greylist/greylister.h"
#include "milter/milter_server.h"
#include "policy/policy_server.h"

namespace greylist {

class HupReload {
 public:
  // What a reload changes; each must outlive the HupReload.
  struct Targets {
    Greylister& greylister;
    ExpiryThread& expiry;
    Metrics& metrics;
    LazyResolver& resolver;          // the rules' DNS lists (rules_reload.h)
    PolicyServer* policy = nullptr;  // nullptr: the front end is off
    MilterServer* milter = nullptr;
  };

  // `running`: the options the daemon started with (paths absolute).
  HupReload(ConfigReload config, DaemonOptions running, Targets targets)
      : config_(std::move(config)), running_(std::move(running)), targets_(targets) {}

  // The whole SIGHUP reload, logged.
  void reload();

  // The settings in force (the start's, then each reload's).
  const DaemonOptions& options() const { return running_; }

 private:
  void reload_settings();
  // Puts `next` in force; false (nothing changed) when a part refuses it.
  bool apply(const DaemonOptions& next);

  ConfigReload config_;
  DaemonOptions running_;
  Targets targets_;
};

// Reads the whitelists `options` name again and swaps them into
// `greylister`; on any error the old lists stay (logged, counted).
void reload_whitelists(const DaemonOptions& options, Greylister& greylister, Metrics& metrics);

}  // namespace greylist
