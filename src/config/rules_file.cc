#include "config/rules_file.h"

#include <sys/stat.h>

#include <cerrno>

namespace greylist {

Result<std::shared_ptr<const RuleSet>> load_rules_file(const RulesOptions& options) {
  if (options.file.empty()) return std::shared_ptr<const RuleSet>();
  struct stat st {};
  if (options.optional && stat(options.file.c_str(), &st) != 0 && errno == ENOENT) {
    return std::shared_ptr<const RuleSet>();
  }
  return RuleSet::load_file(options.file);
}

}  // namespace greylist
