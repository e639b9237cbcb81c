#include "config/daemon_options.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "config/option_groups.h"
#include "config/option_table.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

// Boost 1.74's error_with_option_name::what() replaces each placeholder
// ("%canonical_option%", "%value%", ...) in a loop that never ends when the
// text it inserts contains that placeholder: a config line
// "x%canonical_option%y = 1" hung the daemon at start-up (found by
// fuzzing). The inserted names and values lose their '%' first.
std::string error_message(const po::error& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();
  struct Substitutions : po::error_with_option_name {
    static std::map<std::string, std::string>& of(po::error_with_option_name& error) {
      return error.*(&Substitutions::m_substitutions);
    }
  };
  po::error_with_option_name copy = *named;
  for (auto& [placeholder, text] : Substitutions::of(copy)) {
    std::replace(text.begin(), text.end(), '%', '?');
  }
  return copy.what();
}

}  // namespace

namespace {

// The config file `vm` names (a relative path taken from `directory`, when
// given), stored after the command lines (they win), then the values
// checked and converted.
Result<ParsedOptions> finish(const po::options_description& description, po::variables_map& vm,
                             ParsedOptions parsed, const std::string& directory = {}) {
  std::ifstream file;
  if (vm.count("config") != 0) {
    auto path = vm["config"].as<std::string>();
    if (!directory.empty() && !path.empty() && path.front() != '/') {
      path = (std::filesystem::path(directory) / path).lexically_normal().string();
    }
    file.open(path);
    if (!file) return Status::InvalidArgument("cannot read config file " + path);
    parsed.options.config_file = path;
  }
  try {
    // Values stored first win, so the command line (stored above) beats the file.
    if (file.is_open()) po::store(po::parse_config_file(file, description), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::string message = error_message(e);
    if (vm.count("config") != 0) {
      message += " (command line or " + vm["config"].as<std::string>() + ")";
    }
    return Status::InvalidArgument(message);
  }
  const Status status = config::fill_daemon_options(vm, parsed.options);
  if (!status.ok()) return status;
  return parsed;
}

}  // namespace

Result<ParsedOptions> parse_daemon_options(int argc, const char* const argv[]) {
  ParsedOptions parsed;
  const po::options_description description = config::describe_options();
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, description), vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(error_message(e));
  }
  if (vm.count("help") != 0) {
    std::cout << "Usage: greylist-milter [options]\n"
              << "Greylisting for Postfix through a milter and a policy-delegation socket.\n"
              << description << "\nSee greylist-milter(8).\n";
    parsed.outcome = ParsedOptions::Outcome::kPrintedHelp;
    return parsed;
  }
  if (vm.count("version") != 0) {
    std::cout << "greylist-milter " << GREYLIST_VERSION << "\n";
    parsed.outcome = ParsedOptions::Outcome::kPrintedVersion;
    return parsed;
  }
  if (vm.count("man") != 0) {
    // postgrey's --man prints its manual: ours is greylist-milter(8).
    std::cout.flush();
    const int status = std::system("man 8 greylist-milter");
    if (status != 0) std::cout << "See greylist-milter(8) (the man page is not installed here).\n";
    parsed.outcome = ParsedOptions::Outcome::kPrintedHelp;
    return parsed;
  }
  return finish(description, vm, std::move(parsed));
}

Result<ParsedOptions> parse_daemon_option_layers(const std::vector<std::vector<std::string>>& layers) {
  const po::options_description description = config::describe_options();
  po::variables_map vm;
  try {
    for (const auto& layer : layers) {
      po::store(po::command_line_parser(layer).options(description).run(), vm);
    }
  } catch (const po::error& e) {
    return Status::InvalidArgument(error_message(e));
  }
  return finish(description, vm, ParsedOptions{});
}

Result<ParsedOptions> reparse_daemon_options(const std::vector<std::string>& args,
                                             const std::string& directory) {
  const po::options_description description = config::describe_options();
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(description).run(), vm);
  } catch (const po::error& e) {
    return Status::InvalidArgument(error_message(e));
  }
  auto parsed = finish(description, vm, ParsedOptions{}, directory);
  if (parsed.ok()) make_paths_absolute(parsed.value().options, directory);
  return parsed;
}

void make_paths_absolute(DaemonOptions& options, const std::string& directory) {
  const auto absolute = [&directory](std::string& path) {
    if (path.empty()) return;
    path = (std::filesystem::path(directory) / path).lexically_normal().string();
  };
  absolute(options.dbdir);
  absolute(options.pidfile);
  absolute(options.privacy_key_file);
  absolute(options.rules.file);  // also names the rules in log lines and metrics
  for (auto& file : options.whitelist_clients) absolute(file.path);
  for (auto& file : options.whitelist_recipients) absolute(file.path);
  for (auto& spec : options.policy.sockets) {
    if (spec.kind == SocketSpec::Kind::kUnix) absolute(spec.path);
  }
  if (options.milter.socket.kind == SocketSpec::Kind::kUnix) absolute(options.milter.socket.path);
}

std::vector<std::string> daemon_option_names() {
  const po::options_description description = config::describe_options();
  std::vector<std::string> names;
  for (const auto& option : description.options()) names.push_back(option->long_name());
  return names;
}

}  // namespace greylist
