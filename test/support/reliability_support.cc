#include "support/reliability_support.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "support/file_text.h"
#include "support/line_client.h"
#include "support/temp_dir.h"

namespace greylist::testing {
namespace {

namespace fs = std::filesystem;

}  // namespace

long env_number(const char* name, long fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  return end != nullptr && *end == '\0' && parsed > 0 ? parsed : fallback;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// --- requests ---------------------------------------------------------------

std::string letters(std::uint64_t n) {
  std::string out;
  do {
    out.insert(out.begin(), static_cast<char>('a' + n % 26));
    n /= 26;
  } while (n > 0);
  return out;
}

std::string policy_request(const std::string& client_address, const std::string& sender,
                           const std::string& recipient) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" + client_address +
         "\nclient_name=unknown\nsender=" + sender + "\nrecipient=" + recipient + "\n";
}

bool is_greylist_reply(const std::optional<std::string>& reply) {
  return reply && reply->rfind("action=DEFER_IF_PERMIT Greylisted, see ", 0) == 0;
}

bool is_dunno_reply(const std::optional<std::string>& reply) {
  return reply && *reply == "action=DUNNO\n\n";
}

bool is_tempfail_reply(const std::optional<std::string>& reply) {
  return reply &&
         *reply == "action=DEFER_IF_PERMIT 4.3.0 Greylisting service temporarily unavailable\n\n";
}

std::optional<long> prepended_delay(const std::optional<std::string>& reply) {
  const std::string prefix = "action=PREPEND X-Greylist: delayed ";
  if (!reply || reply->rfind(prefix, 0) != 0) return std::nullopt;
  char* end = nullptr;
  const long seconds = std::strtol(reply->c_str() + prefix.size(), &end, 10);
  if (end == nullptr || std::strncmp(end, " seconds", 8) != 0) return std::nullopt;
  return seconds;
}

// --- latency ----------------------------------------------------------------

std::string LatencyStats::text() const {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "n=%zu p50=%.2f ms p99=%.2f ms max=%.2f ms failures=%zu",
                requests, p50_ms, p99_ms, max_ms, failures);
  return buffer;
}

LatencyStats summarize(std::vector<double> samples_ms, std::size_t failures) {
  LatencyStats stats;
  stats.requests = samples_ms.size();
  stats.failures = failures;
  if (samples_ms.empty()) return stats;
  std::sort(samples_ms.begin(), samples_ms.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples_ms.size())));
    return samples_ms[std::min(samples_ms.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  stats.p50_ms = at(0.50);
  stats.p99_ms = at(0.99);
  stats.max_ms = samples_ms.back();
  return stats;
}

PolicyProbe::PolicyProbe(int port, std::string tag, Millis pause)
    : thread_([this, port, tag = std::move(tag), pause] { run(port, tag, pause); }) {}

PolicyProbe::~PolicyProbe() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

LatencyStats PolicyProbe::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return summarize(samples_, failures_);
}

void PolicyProbe::run(int port, std::string tag, Millis pause) {
  std::unique_ptr<LineClient> client;
  for (std::uint64_t i = 0; !stop_; ++i) {
    if (!client || !client->ok()) client = std::make_unique<LineClient>(port, Millis(1000));
    if (!client->ok()) {
      ++failures_;
      std::this_thread::sleep_for(pause);
      continue;
    }
    const auto started = Clock::now();
    const auto reply = client->policy(policy_request(
        "192.0.2." + std::to_string(i % 250 + 1), tag + "-" + letters(i) + "@probe.test",
        "rcpt@probe.test"));
    const std::chrono::duration<double, std::milli> took = Clock::now() - started;
    if (!reply) {
      ++failures_;
      client.reset();
    } else {
      samples_.push_back(took.count());
    }
    std::this_thread::sleep_for(pause);
  }
}

// --- database ---------------------------------------------------------------

std::string verify_database_copy(const std::string& dbdir) {
  if (std::system("command -v db5.3_verify >/dev/null 2>&1") != 0) {
    return "db5.3_verify is not installed (apt-get install db5.3-util)";
  }
  const TempDir scratch("greylist-verify");
  const std::string& copy = scratch.path();
  std::string problems;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dbdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file()) continue;
    if (name != "triplets.db" && name != "clients.db" && name.rfind("log.", 0) != 0) continue;
    fs::copy_file(entry.path(), fs::path(copy) / name, ec);
    if (ec) problems += "cannot copy " + name + ": " + ec.message() + "\n";
  }
  for (const char* table : {"triplets.db", "clients.db"}) {
    std::string output;
    const int status = run_program({"/usr/bin/db5.3_verify", "-h", copy, table}, output,
                                   std::chrono::seconds(120));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      problems += std::string(table) + ": " + output;
    }
  }
  return problems;
}

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += file_size_or_zero(entry.path().string());
  }
  return total;
}

std::uint64_t log_file_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind("log.", 0) == 0) {
      total += file_size_or_zero(entry.path().string());
    }
  }
  return total;
}

std::size_t log_file_count(const std::string& dir) {
  std::size_t count = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind("log.", 0) == 0) ++count;
  }
  return count;
}

bool file_contains(const std::string& path, const std::string& needle) {
  return read_file(path).find(needle) != std::string::npos;
}

// --- faults and limits ----------------------------------------------------------

TmpfsMount::TmpfsMount(std::string path, const std::string& size) : path_(std::move(path)) {
  std::error_code ec;
  fs::create_directories(path_, ec);
  const std::string options = "size=" + size + ",mode=0755";
  if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    error_ = "cannot mount a tmpfs on " + path_ + ": " + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

std::uint64_t raise_fd_limit(std::uint64_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur >= wanted) return limit.rlim_cur;
  if (limit.rlim_max < wanted && geteuid() == 0) limit.rlim_max = wanted;
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, wanted);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

ScopedSoftFdLimit::ScopedSoftFdLimit(std::uint64_t soft) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  old_soft_ = limit.rlim_cur;
  limit.rlim_cur = std::min<rlim_t>(soft, limit.rlim_max);
  changed_ = setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

ScopedSoftFdLimit::~ScopedSoftFdLimit() {
  if (!changed_) return;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = old_soft_;
  setrlimit(RLIMIT_NOFILE, &limit);
}

std::string proc_status_field(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) {
      std::string value = line.substr(field.size());
      const auto first = value.find_first_not_of(" \t");
      return first == std::string::npos ? std::string() : value.substr(first);
    }
  }
  return "";
}

std::uint64_t proc_soft_fd_limit(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(std::strlen("Max open files")));
    std::string soft;
    fields >> soft;
    return soft == "unlimited" ? UINT64_MAX : std::strtoull(soft.c_str(), nullptr, 10);
  }
  return 0;
}

}  // namespace greylist::testing
