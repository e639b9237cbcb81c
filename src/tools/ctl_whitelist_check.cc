// greylistctl whitelist-check: the daemon's decision for one request, and
// every check behind it, recording nothing. With the daemon's rules (or
// --rules), the DNS lists they consult are asked through the daemon's
// resolver settings (--dns-server, --dns-timeout) and each answer shown;
// with --pool-by-spf, the SPF result and the triplet's client part too.
#include <iostream>

#include "config/rules_file.h"
#include "greylist/ares_resolver.h"
#include "greylist/decision.h"
#include "greylist/greylister.h"
#include "greylist/ip_address.h"
#include "greylist/registered_domains.h"
#include "greylist/log_line.h"
#include "greylist/static_whitelist.h"
#include "spf/spf_service.h"
#include "tools/ctl_command.h"
#include "tools/decision_explainer.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

const char* action_word(Decision::Action action) {
  switch (action) {
    case Decision::Action::kPass:
      return "pass";
    case Decision::Action::kGreylist:
      return "greylist";
    case Decision::Action::kWhitelisted:
      return "pass (whitelisted)";
    case Decision::Action::kReject:
      return "reject";
    case Decision::Action::kError:
      break;
  }
  return "error";
}

po::options_description check_options() {
  po::options_description options("whitelist-check options");
  options.add_options()
      ("client-address", po::value<std::string>()->required(), "CLIENT_ADDR")
      ("client-name", po::value<std::string>()->required(),
       "CLIENT_NAME as Postfix gives it (unknown: no verified name)")
      ("sender", po::value<std::string>()->required(), "SENDER (\"\" for the null sender)")
      ("recipient", po::value<std::string>()->required(), "RECIPIENT")
      ("helo", po::value<std::string>()->default_value(""), "the HELO name (for helo rules)")
      ("auth", po::value<std::string>()->default_value(""),
       "the SMTP AUTH user name (for auth rules)")
      ("rules", po::value<std::string>(),
       "the rules file to use instead of the daemon's (--rules; '' for none)");
  return options;
}

// The request the command line describes; a usage problem as InvalidArgument.
Result<Request> read_request(const po::variables_map& vm) {
  Request request;
  request.client_address = vm["client-address"].as<std::string>();
  request.client_name = vm["client-name"].as<std::string>();
  if (request.client_name.empty()) request.client_name = "unknown";
  request.sender = vm["sender"].as<std::string>();
  request.recipient = vm["recipient"].as<std::string>();
  request.helo_name = vm["helo"].as<std::string>();
  request.sasl_username = vm["auth"].as<std::string>();
  if (!IpAddress::parse(request.client_address)) {
    return Status::InvalidArgument("'" + request.client_address +
                                   "' is not an IPv4 or IPv6 address");
  }
  if (request.recipient.empty()) return Status::InvalidArgument("empty recipient");
  return request;
}

// The Public Suffix List for --pool-by-domain (null when it is off or
// cannot be read: a warning, as in the daemon).
std::unique_ptr<RegisteredDomains> pool_domains(CtlContext& ctx, const GreylistConfig& config) {
  if (!config.pool_by_domain) return nullptr;
  auto psl = open_public_suffix_list();
  if (psl.ok()) return std::move(psl).value();
  ctx.err << "greylistctl: whitelist-check: warning: " << psl.status().message()
          << "; --pool-by-domain is off\n";
  return nullptr;
}

// The rules the daemon would load (--rules; whitelist-check's own wins),
// printed as "rules: FILE: N rules" so the narration below is read
// against the right file. nullptr: none.
Result<std::shared_ptr<const RuleSet>> configured_rules(CtlContext& ctx,
                                                        const po::variables_map& vm,
                                                        RulesOptions options) {
  if (vm.count("rules") != 0) {
    options.file = vm["rules"].as<std::string>();
    options.optional = false;
  }
  auto rules = load_rules_file(options);
  if (rules.ok() && rules.value()) {
    ctx.out << "rules: " << rules.value()->file() << ": " << rules.value()->rule_count()
            << " rules\n";
  }
  return rules;
}

// The answers to the DNS lists `plan` needs, asked as the daemon asks them;
// a resolver that cannot start leaves every list "not listed" (warned).
DnsAnswers resolve_lists(CtlContext& ctx, const RulePlan& plan, const AresResolverOptions& dns) {
  if (plan.assessment.queries.empty()) return {};
  auto resolver = AresResolver::create(dns);
  if (!resolver.ok()) {
    ctx.err << "greylistctl: whitelist-check: warning: DNS lists: "
            << resolver.status().message() << "; every list counts as not listed\n";
    return {};
  }
  std::vector<std::string> names;
  for (const DnsQuery& query : plan.assessment.queries) names.push_back(query.name);
  return resolve_and_wait(*resolver.value(), std::move(names), dns.timeout);
}

// --pool-by-spf: the SPF check the daemon makes for `request`, printed as
// "spf: RESULT for DOMAIN (why)" (a pass that is no pool: "(why; TERM:
// not a sender pool)", spf_pooling.h) and "key: CLIENT PART" (the triplet's:
// the SPF pool, or what it is without one); sets
// request.spf_pass_domain on a pass. Nothing when the option is off.
void check_spf(CtlContext& ctx, const Greylister& greylister, const AresResolverOptions& dns,
               Request& request) {
  if (!greylister.config().pool_by_spf) return;
  SpfService service;
  if (const Status started = service.start(true, dns); !started.ok()) {
    ctx.err << "greylistctl: whitelist-check: warning: SPF: " << started.message()
            << "; keyed by network\n";
    return;
  }
  const SpfPooling pooling = service.pooling();
  const auto identity = spf_pool_identity(pooling, request);
  if (!identity) {
    ctx.out << "spf: not checked (" << (request.sender.empty() ? "null sender" : "no sender domain")
            << ")\n";
  } else {
    const SpfVerdict verdict = pooling.checker->check_and_wait(*identity, pooling.wait);
    apply_spf_verdict(SpfPooling{}, *identity, verdict, request);
    const auto not_a_pool = spf_pass_not_a_pool(verdict);
    const bool unpooled_pass = verdict.result == SpfResult::kPass && not_a_pool;
    ctx.out << "spf: " << to_string(verdict.result) << " for " << printable(identity->domain, 253)
            << " (" << printable(verdict.reason)
            << (unpooled_pass ? "; " + printable(*not_a_pool) : std::string()) << ")\n";
  }
  ctx.out << "key: " << greylister.keys().triplet_client(request) << "\n";
}

// Everything the daemon reads at start, before the store (opening it may
// give up root for good): the whitelists, the rules, the privacy key.
struct Prepared {
  std::shared_ptr<const Whitelist> whitelist;
  std::shared_ptr<const RuleSet> rules;
  GreylistConfig config;
};

std::optional<Prepared> prepare(CtlContext& ctx, const po::variables_map& vm,
                                const DaemonOptions& daemon) {
  auto loaded = StaticWhitelist::load(daemon.whitelist_clients, daemon.whitelist_recipients);
  if (!loaded.ok()) {
    ctx.err << "greylistctl: whitelist-check: whitelist: " << loaded.status().message() << "\n";
    return std::nullopt;
  }
  for (const auto& warning : loaded.value().warnings) {
    ctx.err << "greylistctl: whitelist-check: warning: " << warning << "\n";
  }
  auto rules = configured_rules(ctx, vm, daemon.rules);
  if (!rules.ok()) {
    ctx.err << "greylistctl: whitelist-check: rules: " << rules.status().message() << "\n";
    return std::nullopt;
  }
  auto key = read_privacy_key(daemon);
  if (!key.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << key.status().message() << "\n";
    return std::nullopt;
  }
  Prepared prepared{loaded.value().whitelist, std::move(rules).value(), daemon.greylist};
  prepared.config.privacy_key = key.value();
  return prepared;
}

int print_explanation(CtlContext& ctx, const Explanation& e) {
  ctx.out << "decision: " << action_word(e.decision.action) << "\n";
  ctx.out << "reason: " << reason_text(e.decision) << "\n";
  if (e.decision.rule) ctx.out << "rule: " << e.decision.rule->rule.to_string() << "\n";
  if (e.decision.action == Decision::Action::kGreylist) {
    ctx.out << "seconds left: " << e.decision.seconds_left << "\n";
  }
  for (const auto& check : e.checks) ctx.out << check << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace

int run_whitelist_check(CtlContext& ctx, const std::vector<std::string>& args) {
  po::positional_options_description positional;
  positional.add("client-address", 1).add("client-name", 1).add("sender", 1).add("recipient", 1);
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "whitelist-check", check_options(), positional, args, vm)) {
    return *done;
  }
  auto read = read_request(vm);
  if (!read.ok()) return usage_error(ctx, "whitelist-check", read.status().message());
  Request& request = read.value();

  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "whitelist-check", settings.status().message());
  const DaemonOptions& daemon = settings.value();
  const auto prepared = prepare(ctx, vm, daemon);
  if (!prepared) return kExitFailure;
  const std::unique_ptr<RegisteredDomains> domains = pool_domains(ctx, prepared->config);

  auto opened = open_store(daemon, false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  SystemClock clock;
  // Its decision steps run against a DryRunStore: decide() is never called.
  Greylister greylister(prepared->config, *opened.value().store, clock, domains.get());
  greylister.set_whitelist(prepared->whitelist);
  greylister.set_rules(prepared->rules);
  const RulePlan plan = greylister.plan(request);
  if (!plan.smtp_auth_passes) check_spf(ctx, greylister, daemon.rules.dns, request);  // as the daemon
  const DnsAnswers answers = resolve_lists(ctx, plan, daemon.rules.dns);
  const DecisionExplainer explainer(greylister, *opened.value().store);
  auto explained = explainer.explain(request, clock.now(), answers);
  if (!explained.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << explained.status().message() << "\n";
    return kExitFailure;
  }
  return print_explanation(ctx, explained.value());
}

}  // namespace greylist
