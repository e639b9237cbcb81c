#include "config/service_defaults.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/shell_words.h"

namespace greylist {

Result<std::vector<std::string>> read_service_options(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::vector<std::string>();
    return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  }
  std::string text(kMaxShellText + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto assignments = parse_shell_assignments(text);
  if (!assignments.ok()) return Status::InvalidArgument(path + ": " + assignments.status().message());
  const auto found = assignments.value().values.find("GREYLIST_MILTER_OPTS");
  if (found == assignments.value().values.end()) return std::vector<std::string>();
  auto words = split_shell_words(found->second);
  if (!words.ok()) {
    return Status::InvalidArgument(path + ": GREYLIST_MILTER_OPTS: " + words.status().message());
  }
  return words;
}

}  // namespace greylist
