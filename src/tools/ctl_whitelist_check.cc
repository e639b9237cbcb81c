// greylistctl whitelist-check: the daemon's decision for one request, and
// every check behind it, recording nothing.
#include <iostream>

#include "greylist/decision.h"
#include "greylist/greylister.h"
#include "greylist/ip_address.h"
#include "greylist/registered_domains.h"
#include "greylist/static_whitelist.h"
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
      ("recipient", po::value<std::string>()->required(), "RECIPIENT");
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
  const Request& request = read.value();

  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "whitelist-check", settings.status().message());
  const DaemonOptions& daemon = settings.value();

  // Everything the daemon reads at start, before the store: opening it may
  // give up root for good.
  auto loaded = StaticWhitelist::load(daemon.whitelist_clients, daemon.whitelist_recipients);
  if (!loaded.ok()) {
    ctx.err << "greylistctl: whitelist-check: whitelist: " << loaded.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& warning : loaded.value().warnings) {
    ctx.err << "greylistctl: whitelist-check: warning: " << warning << "\n";
  }
  const std::unique_ptr<RegisteredDomains> domains = pool_domains(ctx, daemon.greylist);
  GreylistConfig config = daemon.greylist;
  auto key = read_privacy_key(daemon);
  if (!key.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << key.status().message() << "\n";
    return kExitFailure;
  }
  config.privacy_key = key.value();

  auto opened = open_store(daemon, false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  SystemClock clock;
  // Its decision steps run against a DryRunStore: decide() is never called.
  Greylister greylister(config, *opened.value().store, clock, domains.get());
  greylister.set_whitelist(loaded.value().whitelist);
  const DecisionExplainer explainer(greylister, *opened.value().store);
  auto explained = explainer.explain(request, clock.now());
  if (!explained.ok()) {
    ctx.err << "greylistctl: whitelist-check: " << explained.status().message() << "\n";
    return kExitFailure;
  }
  const Explanation& e = explained.value();
  ctx.out << "decision: " << action_word(e.decision.action) << "\n";
  ctx.out << "reason: " << reason_text(e.decision) << "\n";
  if (e.decision.action == Decision::Action::kGreylist) {
    ctx.out << "seconds left: " << e.decision.seconds_left << "\n";
  }
  for (const auto& check : e.checks) ctx.out << check << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
