// greylistctl check-rules FILE: checks a rules file (--rules) as the daemon
// would load it, without a daemon, a config file or a database.
#include <iostream>

#include "greylist/rule_set.h"
#include "tools/ctl_command.h"

namespace po = boost::program_options;

namespace greylist {

int run_check_rules(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("check-rules options");
  options.add_options()("file", po::value<std::string>(), "the rules file");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "check-rules", options, positional, args, vm)) return *done;
  if (vm.count("file") == 0) return usage_error(ctx, "check-rules", "no rules file given");
  const std::string path = vm["file"].as<std::string>();
  auto rules = RuleSet::load_file(path);
  if (!rules.ok()) {
    ctx.err << "greylistctl: check-rules: " << rules.status().message() << "\n";
    return kExitFailure;
  }
  const RuleSet& set = *rules.value();
  ctx.out << path << ": ok: " << set.rule_count() << " rules, " << set.list_count() << " lists, "
          << set.dnsrbl_count() << " DNS lists" << (set.has_greytraps() ? ", greytraps" : "") << "\n";
  return kExitOk;
}

}  // namespace greylist
