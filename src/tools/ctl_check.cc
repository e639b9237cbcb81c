// greylistctl check: is the daemon alive and answering? For monitoring:
// one line per check, exit 0 only when every check passed.
#include <iostream>

#include "tools/ctl_command.h"
#include "tools/health_check.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

// A socket in Postfix syntax, or postgrey's [HOST:]PORT.
Result<SocketSpec> parse_target(const std::string& text) {
  auto spec = parse_socket_spec(text);
  if (spec.ok() && spec.value().kind != SocketSpec::Kind::kNone) return spec;
  auto inet = parse_postgrey_inet(text);
  if (inet.ok()) return inet;
  return spec.ok() ? Status::InvalidArgument("'none' is not a socket") : spec.status();
}

}  // namespace

int run_check(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("check options");
  options.add_options()
      ("policy", po::value<std::vector<std::string>>()->composing(),
       "policy socket to probe (inet:HOST:PORT, unix:PATH), repeatable")
      ("milter", po::value<std::string>(), "milter socket to negotiate with")
      ("timeout", po::value<unsigned>()->default_value(5000),
       "milliseconds each check may take (connect, send, answer)");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "check", options, {}, args, vm)) return *done;
  const unsigned timeout_ms = vm["timeout"].as<unsigned>();
  if (timeout_ms == 0 || timeout_ms > 600000) {
    return usage_error(ctx, "check", "--timeout must be from 1 to 600000 milliseconds");
  }
  const std::chrono::milliseconds timeout(timeout_ms);

  std::vector<SocketSpec> policies;
  std::optional<SocketSpec> milter;
  const bool given = vm.count("policy") + vm.count("milter") > 0;
  if (vm.count("policy") != 0) {
    for (const auto& text : vm["policy"].as<std::vector<std::string>>()) {
      auto spec = parse_target(text);
      if (!spec.ok()) return usage_error(ctx, "check", "--policy: " + spec.status().message());
      policies.push_back(spec.value());
    }
  }
  if (vm.count("milter") != 0) {
    auto spec = parse_target(vm["milter"].as<std::string>());
    if (!spec.ok()) return usage_error(ctx, "check", "--milter: " + spec.status().message());
    milter = spec.value();
  }
  if (!given) {
    // What the daemon serves, from its configuration.
    auto settings = load_settings(ctx.common);
    if (!settings.ok()) return usage_error(ctx, "check", settings.status().message());
    policies = settings.value().policy.sockets;
    if (settings.value().milter.socket.kind != SocketSpec::Kind::kNone) {
      milter = settings.value().milter.socket;
    }
  }

  bool healthy = true;
  const auto report = [&](const char* what, const SocketSpec& spec, const HealthResult& result) {
    healthy = healthy && result.healthy;
    ctx.out << what << " " << spec.to_string() << ": " << (result.healthy ? "ok" : "FAILED")
            << " (" << result.detail << ", " << result.elapsed.count() << " ms)\n";
    ctx.out.flush();
  };
  for (const SocketSpec& spec : policies) report("policy", spec, check_policy(spec, timeout));
  if (milter) report("milter", *milter, check_milter(*milter, timeout));
  if (policies.empty() && !milter) {
    ctx.err << "greylistctl: check: the configuration has no policy or milter socket\n";
    return kExitFailure;
  }
  return healthy ? kExitOk : kExitFailure;
}

}  // namespace greylist
