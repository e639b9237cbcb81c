// greylistctl check-whitelists: every whitelist line the daemon skips.
#include <iostream>

#include "greylist/static_whitelist.h"
#include "tools/ctl_command.h"

namespace po = boost::program_options;

namespace greylist {

int run_check_whitelists(CtlContext& ctx, const std::vector<std::string>& args) {
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "check-whitelists", po::options_description(
                                      "check-whitelists options"), {}, args, vm)) {
    return *done;
  }
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "check-whitelists", settings.status().message());
  auto loaded = StaticWhitelist::load(settings.value().whitelist_clients,
                                      settings.value().whitelist_recipients);
  if (!loaded.ok()) {
    ctx.err << "greylistctl: check-whitelists: " << loaded.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& warning : loaded.value().warnings) ctx.out << warning << "\n";
  const auto& whitelist = *loaded.value().whitelist;
  ctx.out << whitelist.client_rule_count() << " client rules, " << whitelist.recipient_rule_count()
          << " recipient rules, " << loaded.value().skipped_lines << " lines skipped\n";
  ctx.out.flush();
  return loaded.value().skipped_lines == 0 && ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
