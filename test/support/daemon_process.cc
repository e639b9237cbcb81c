#include "support/daemon_process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/file_text.h"
#include "support/line_client.h"

namespace greylist::testing {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = DaemonProcess::Millis;

// A request no triplet is made of (answered DUNNO without the database):
// proves the daemon serves, and leaves no trace in it. It is greylistctl
// check's probe (instance greylistctl.check), which the daemon answers
// without the warning for a non-RCPT state: that warning would otherwise
// use up the one-a-second budget of peer warnings a test may wait for.
const char* const kReadinessProbe =
    "request=smtpd_access_policy\nprotocol_state=VRFY\nclient_address=192.0.2.1\n"
    "client_name=unknown\nsender=probe@probe.test\nrecipient=probe@probe.test\n"
    "instance=greylistctl.check\n";

bool answers_probe(int policy_port) {
  if (!accepts_connections(policy_port)) return false;
  LineClient probe(policy_port, Millis(0));
  return probe.ok() && probe.policy(kReadinessProbe) == "action=DUNNO\n\n";
}

// Whether the milter socket `spec` ("inet:127.0.0.1:PORT" or "unix:PATH")
// accepts a connection now.
bool milter_accepts(const std::string& spec, int port) {
  if (spec.rfind("unix:", 0) == 0) return LineClient(spec.substr(5), Millis(0)).ok();
  return accepts_connections(port);
}

}  // namespace

DaemonProcess::DaemonProcess(const std::string& prefix)
    : temp_(prefix), dir(temp_.path()), dbdir(dir + "/db"), policy_port(free_loopback_port()) {
  std::ofstream(dir + "/" + clients_file) << "";
  std::ofstream(dir + "/" + recipients_file) << "";
}

DaemonProcess::~DaemonProcess() {
  process_.reset();  // SIGKILL and reap if still running
  temp_.keep_if(keep_variable);
}

std::vector<std::string> DaemonProcess::command(const std::vector<std::string>& extra) const {
  std::vector<std::string> argv{GREYLIST_MILTER_BINARY};
  if (!config.empty()) {
    argv.insert(argv.end(), {"--config", config});
  } else {
    const std::string milter_spec =
        !milter.empty()     ? milter
        : milter_port != 0 ? "inet:127.0.0.1:" + std::to_string(milter_port)
                           : std::string("none");
    argv.insert(argv.end(), {"--policy", "inet:127.0.0.1:" + std::to_string(policy_port),
                             "--milter", milter_spec, "--dbdir", dbdir, "--log", "stderr",
                             "--hostname", hostname, "--whitelist-clients",
                             dir + "/" + clients_file, "--whitelist-recipients",
                             dir + "/" + recipients_file});
  }
  argv.insert(argv.end(), base_options.begin(), base_options.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  const auto names_spf = [](const std::string& arg) { return arg.rfind("--pool-by-spf", 0) == 0; };
  if (std::none_of(argv.begin(), argv.end(), names_spf)) {
    argv.insert(argv.end(), {"--pool-by-spf", "no"});
  }
  return argv;
}

void DaemonProcess::spawn(const std::vector<std::string>& extra) {
  process_.reset();
  log_offset_ = file_size_or_zero(dir + "/daemon.log");
  process_ = std::make_unique<ChildProcess>(command(extra), dir + "/daemon.log");
}

bool DaemonProcess::start(const std::vector<std::string>& extra, Millis ready) {
  spawn(extra);
  return wait_until_serving(ready);
}

bool DaemonProcess::wait_until_serving(Millis ready) {
  if (!process_) return false;
  const auto deadline = Clock::now() + ready;
  const bool has_milter = !milter.empty() || milter_port != 0;
  while (Clock::now() < deadline) {
    if (process_->wait_for_exit(Millis(0))) {
      process_.reset();
      return false;
    }
    if ((!has_milter || milter_accepts(milter, milter_port)) && answers_probe(policy_port)) {
      return true;
    }
    std::this_thread::sleep_for(Millis(10));
  }
  return false;
}

std::optional<int> DaemonProcess::stop(Millis timeout) {
  if (!process_) return std::nullopt;
  process_->signal(SIGTERM);
  return wait_for_exit(timeout);
}

void DaemonProcess::kill9() {
  if (!process_) return;
  process_->signal(SIGKILL);
  (void)process_->wait_for_exit(Millis(10000));
  process_.reset();
}

void DaemonProcess::signal(int signal_number) const {
  if (process_) process_->signal(signal_number);
}

std::optional<int> DaemonProcess::wait_for_exit(Millis timeout) {
  if (!process_) return std::nullopt;
  auto status = process_->wait_for_exit(timeout);
  if (status) process_.reset();
  return status;
}

pid_t DaemonProcess::pid() const { return process_ ? process_->pid() : -1; }

void DaemonProcess::write(const std::string& name, const std::string& content) const {
  const std::string path = dir + "/" + name;
  std::ofstream(path + ".new") << content;
  std::rename((path + ".new").c_str(), path.c_str());
}

std::string DaemonProcess::log() const { return read_file(dir + "/daemon.log"); }

std::string DaemonProcess::log_since_start() const {
  const std::string all = log();
  return log_offset_ < all.size() ? all.substr(log_offset_) : std::string();
}

bool DaemonProcess::log_shows(const std::string& text, Millis timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (log_since_start().find(text) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(20));
  }
}

std::size_t DaemonProcess::lines_with(const std::string& text) const {
  std::istringstream lines(log_since_start());
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line);) count += line.find(text) != std::string::npos;
  return count;
}

std::size_t DaemonProcess::wait_lines_with(const std::string& text, std::size_t count,
                                           Millis timeout) const {
  const auto deadline = Clock::now() + timeout;
  std::size_t now = lines_with(text);
  while (now < count && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis(20));
    now = lines_with(text);
  }
  return now;
}

bool accepts_connections(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace greylist::testing
