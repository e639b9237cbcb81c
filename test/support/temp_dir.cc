#include "support/temp_dir.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace greylist::testing {
namespace {

greylist::TempDir make(const std::string& prefix) {
  auto made = greylist::TempDir::create(prefix);
  if (!made.ok()) throw std::runtime_error(made.status().message());
  greylist::TempDir dir = std::move(made).value();
  if (::chmod(dir.path().c_str(), 0755) != 0) {
    throw std::runtime_error("cannot chmod " + dir.path());
  }
  return dir;
}

}  // namespace

TempDir::TempDir(const std::string& prefix) : dir_(make(prefix)) {}

void TempDir::keep_if(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr || *value == '\0' || std::string(value) == "0" || path().empty()) return;
  std::fprintf(stderr, "kept %s\n", dir_.release().c_str());
}

}  // namespace greylist::testing
