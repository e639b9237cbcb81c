// Fuzzes the configuration file parser: the input is the content of the
// file named by --config, read by parse_daemon_options() as the daemon
// reads it at start-up (Boost.Program_options, then every value checked).
//
// The file is a memfd reached through /proc/self/fd, so no disk is
// touched; parse_daemon_options() has no stream entry point.
//
// Invariants: it returns (no exception escapes: the daemon would die with
// an uncaught exception instead of "exit 2 with one line"); an error is one
// non-empty line; accepted options respect the documented ranges.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "config/daemon_options.h"
#include "fuzz_check.h"

namespace {

int config_fd() {
  static const int fd = [] {
    const int created = memfd_create("greylist-config", MFD_CLOEXEC);
    if (created < 0) std::abort();
    return created;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = config_fd();
  if (ftruncate(fd, 0) != 0) std::abort();
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = pwrite(fd, data + written, size - written, static_cast<off_t>(written));
    if (n <= 0) std::abort();
    written += static_cast<std::size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const char* const argv[] = {"greylist-milter", "--config", path.c_str()};
  const auto parsed = greylist::parse_daemon_options(3, argv);
  if (!parsed.ok()) {
    const std::string& message = parsed.status().message();
    FUZZ_CHECK(!message.empty());
    FUZZ_CHECK(message.find('\n') == std::string::npos);  // the daemon prints one line
    return 0;
  }
  const greylist::DaemonOptions& options = parsed.value().options;
  FUZZ_CHECK(parsed.value().outcome == greylist::ParsedOptions::Outcome::kRun);
  FUZZ_CHECK(options.config_file == path);
  FUZZ_CHECK(options.greylist.delay >= 0);
  FUZZ_CHECK(options.greylist.retry_window > options.greylist.delay);
  FUZZ_CHECK(options.greylist.max_age >= 86400);
  FUZZ_CHECK(options.greylist.ipv4_cidr >= 1 && options.greylist.ipv4_cidr <= 32);
  FUZZ_CHECK(options.greylist.ipv6_cidr >= 1 && options.greylist.ipv6_cidr <= 128);
  FUZZ_CHECK(options.policy.threads >= 1 && options.policy.threads <= 256);
  FUZZ_CHECK(options.policy.socket_mode <= 0777);
  FUZZ_CHECK(!options.dbdir.empty() && !options.user.empty());
  FUZZ_CHECK(options.policy.greylist_action.find_first_of("\r\n") == std::string::npos);
  FUZZ_CHECK(options.milter.reply_code.size() == 3 && options.milter.reply_code[0] == '4');
  FUZZ_CHECK(!options.policy.sockets.empty() ||
             options.milter.socket.kind != greylist::SocketSpec::Kind::kNone);
  return 0;
}
