#include "e2e/postfix_instance.h"

#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/child_process.h"
#include "support/file_text.h"

namespace greylist::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPostfix = "/usr/sbin/postfix";
constexpr const char* kSaslpasswd = "/usr/sbin/saslpasswd2";
constexpr const char* kStalePrefix = "greylist-e2e-";

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void chown_to(const fs::path& path, const char* user_name, const char* group_name) {
  const passwd* pw = getpwnam(user_name);
  const group* gr = getgrnam(group_name);
  if (pw == nullptr || gr == nullptr) {
    throw std::runtime_error(std::string("no user ") + user_name + " or group " + group_name);
  }
  if (chown(path.c_str(), pw->pw_uid, gr->gr_gid) != 0) {
    throw std::runtime_error("cannot chown " + path.string());
  }
}

bool port_accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// A live (not zombie) process whose command line contains `name`.
bool process_alive(pid_t pid, const std::string& name) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  if (close_paren != std::string::npos && close_paren + 2 < stat.size() &&
      stat[close_paren + 2] == 'Z') {
    return false;
  }
  std::string cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find(name) != std::string::npos;
}

pid_t read_pid(const fs::path& path) {
  std::istringstream in(read_file(path));
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

std::string tail(const std::string& text, std::size_t bytes = 3000) {
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

}  // namespace

void ensure_postfix_installed(const std::string& source_root) {
  const auto installed = [] {
    return access(kPostfix, X_OK) == 0 && access(kSaslpasswd, X_OK) == 0;
  };
  if (installed()) return;
  if (geteuid() != 0) {
    throw std::runtime_error("postfix and sasl2-bin are not installed and this is not root: "
                             "apt-get install postfix sasl2-bin");
  }
  std::string output;
  const int status = run_program({"/bin/bash", source_root + "/scripts/ensure-packages.sh",
                                  "postfix", "sasl2-bin", "libsasl2-modules"},
                                 output, std::chrono::minutes(10));
  if (status != 0 || !installed()) {
    throw std::runtime_error("installing postfix failed:\n" + tail(output));
  }
}

PostfixInstance::PostfixInstance(Options options) : options_(std::move(options)) {
  if (geteuid() != 0) throw std::runtime_error("a private Postfix instance needs root");
  for (const Service service : {Service::kMilter, Service::kMilterAccept, Service::kPolicy,
                                Service::kBoth, Service::kMilterAuth, Service::kPolicyAuth}) {
    ports_[service] = free_loopback_port();
  }
  write_configuration();
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

PostfixInstance::~PostfixInstance() {
  try {
    stop();
  } catch (...) {
  }
}

void PostfixInstance::write_configuration() const {
  const fs::path root = options_.root;
  const fs::path etc = root / "etc";
  for (const char* dir : {"etc", "etc/sasl", "spool", "data", "mail"}) fs::create_directories(root / dir);
  // Postfix's daemons (user postfix) and virtual(8) (nobody) walk this tree.
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  chown_to(root / "data", "postfix", "postfix");
  chown_to(root / "mail", "nobody", "nogroup");

  std::string mailboxes;
  for (const auto& box : options_.mailboxes) {
    mailboxes += box + "@dest.test dest.test/" + box + "/\n";
  }
  write_file(etc / "vmailbox", mailboxes);

  const std::string r = root.string();
  const std::string milter = "inet:127.0.0.1:" + std::to_string(options_.milter_port);
  const std::string policy = "inet:127.0.0.1:" + std::to_string(options_.policy_port);
  std::ostringstream main;
  main << "# Private instance for greylist-milter's end-to-end tests.\n"
       << "compatibility_level = 3.6\n"
       << "queue_directory = " << r << "/spool\n"
       << "data_directory = " << r << "/data\n"
       << "mail_owner = postfix\n"
       << "setgid_group = postdrop\n"
       << "myhostname = mx.e2e.test\n"
       << "mydomain = e2e.test\n"
       << "myorigin = $myhostname\n"
       << "mydestination =\n"
       << "inet_interfaces = 127.0.0.1\n"
       << "inet_protocols = ipv4\n"
       << "mynetworks = 127.0.0.0/8\n"
       << "alias_maps =\n"
       << "alias_database =\n"
       << "smtpd_peername_lookup = no\n"
       << "smtpd_authorized_xclient_hosts = 127.0.0.0/8\n"
       << "virtual_mailbox_domains = dest.test\n"
       << "virtual_mailbox_base = " << r << "/mail\n"
       << "virtual_mailbox_maps = texthash:" << r << "/etc/vmailbox\n"
       << "virtual_uid_maps = static:65534\n"
       << "virtual_gid_maps = static:65534\n"
       << "default_transport = error:no outbound mail in tests\n"
       << "relay_transport = error:no outbound mail in tests\n"
       << "maillog_file = " << r << "/maillog\n"
       << "maillog_file_prefixes = " << r << "\n"
       << "biff = no\n"
       << "smtputf8_enable = no\n"
       << "# Milter settings as the README recommends.\n"
       << "milter_default_action = tempfail\n"
       << "milter_protocol = 6\n"
       << "milter_connect_timeout = 10s\n"
       << "milter_command_timeout = 10s\n"
       << "milter_content_timeout = 30s\n"
       << "# SMTP AUTH through Cyrus SASL with a private sasldb.\n"
       << "cyrus_sasl_config_path = " << r << "/etc/sasl\n"
       << "smtpd_sasl_type = cyrus\n"
       << "smtpd_sasl_path = smtpd\n"
       << "smtpd_sasl_local_domain = e2e.test\n";
  write_file(etc / "main.cf", main.str());

  const std::string restrictions =
      "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, "
      "check_policy_service " + policy;
  const std::string auth_restrictions =
      "permit_mynetworks, reject_unauth_destination, check_policy_service " + policy;
  const auto smtpd = [&](Service service, const std::string& overrides) {
    return "127.0.0.1:" + std::to_string(ports_.at(service)) + " inet n - n - - smtpd " +
           overrides + "\n";
  };
  std::ostringstream master;
  master << smtpd(Service::kMilter, "-o smtpd_milters=" + milter)
         << smtpd(Service::kMilterAccept,
                  "-o smtpd_milters=" + milter + " -o milter_default_action=accept")
         << smtpd(Service::kPolicy, "-o { smtpd_recipient_restrictions = " + restrictions + " }")
         << smtpd(Service::kBoth, "-o smtpd_milters=" + milter +
                                      " -o { smtpd_recipient_restrictions = " + restrictions + " }")
         << smtpd(Service::kMilterAuth, "-o smtpd_milters=" + milter + " -o smtpd_sasl_auth_enable=yes")
         << smtpd(Service::kPolicyAuth, "-o smtpd_sasl_auth_enable=yes -o { smtpd_recipient_restrictions = " +
                                            auth_restrictions + " }")
         << "pickup    unix  n       -       n       60      1       pickup\n"
         << "cleanup   unix  n       -       n       -       0       cleanup\n"
         << "qmgr      unix  n       -       n       300     1       qmgr\n"
         << "rewrite   unix  -       -       n       -       -       trivial-rewrite\n"
         << "bounce    unix  -       -       n       -       0       bounce\n"
         << "defer     unix  -       -       n       -       0       bounce\n"
         << "trace     unix  -       -       n       -       0       bounce\n"
         << "verify    unix  -       -       n       -       1       verify\n"
         << "flush     unix  n       -       n       1000?   0       flush\n"
         << "proxymap  unix  -       -       n       -       -       proxymap\n"
         << "showq     unix  n       -       n       -       -       showq\n"
         << "error     unix  -       -       n       -       -       error\n"
         << "retry     unix  -       -       n       -       -       error\n"
         << "discard   unix  -       -       n       -       -       discard\n"
         << "virtual   unix  -       n       n       -       -       virtual\n"
         << "anvil     unix  -       -       n       -       1       anvil\n"
         << "scache    unix  -       -       n       -       1       scache\n"
         << "postlog   unix-dgram n  -       n       -       1       postlogd\n";
  write_file(etc / "master.cf", master.str());

  write_file(etc / "sasl" / "smtpd.conf",
             "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
             "sasldb_path: " + r + "/etc/sasldb2\n");
  std::string output;
  const std::string add_user = "printf '%s' '" + options_.sasl_password + "' | " + kSaslpasswd +
                               " -f '" + r + "/etc/sasldb2' -c -p -u e2e.test '" +
                               options_.sasl_user + "'";
  if (run_program({"/bin/sh", "-c", add_user}, output, std::chrono::seconds(30)) != 0) {
    throw std::runtime_error("saslpasswd2 failed: " + output);
  }
  chown_to(etc / "sasldb2", "root", "postfix");
  fs::permissions(etc / "sasldb2", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
}

void PostfixInstance::start() {
  const std::string etc = options_.root + "/etc";
  std::string output;
  const int status = run_program({kPostfix, "-c", etc, "start"}, output, std::chrono::seconds(60));
  started_ = true;
  if (status != 0) {
    throw std::runtime_error("postfix start failed (status " + std::to_string(status) + "): " +
                             output + "\n" + tail(maillog()));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (const auto& [service, port] : ports_) {
    while (!port_accepts(port)) {
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("postfix smtpd on port " + std::to_string(port) +
                                 " does not answer\n" + tail(maillog()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

bool PostfixInstance::master_running() const {
  const fs::path pid_file = fs::path(options_.root) / "spool" / "pid" / "master.pid";
  return fs::exists(pid_file) && process_alive(read_pid(pid_file), "master");
}

void PostfixInstance::stop() {
  if (!started_) return;
  started_ = false;
  std::string output;
  run_program({kPostfix, "-c", options_.root + "/etc", "stop"}, output, std::chrono::seconds(30));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (master_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (master_running()) {
    kill(read_pid(fs::path(options_.root) / "spool" / "pid" / "master.pid"), SIGKILL);
  }
}

std::vector<std::string> PostfixInstance::delivered(const std::string& mailbox) const {
  std::vector<std::string> files;
  const fs::path dir = fs::path(options_.root) / "mail" / "dest.test" / mailbox / "new";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string PostfixInstance::wait_for_delivery(const std::string& mailbox, std::size_t already,
                                               std::chrono::seconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto files = delivered(mailbox);
    if (files.size() > already) {
      return *std::max_element(files.begin(), files.end(), [](const auto& a, const auto& b) {
        return fs::last_write_time(a) < fs::last_write_time(b);
      });
    }
    if (std::chrono::steady_clock::now() > deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::string PostfixInstance::maillog() const { return read_file(fs::path(options_.root) / "maillog"); }

void clean_up_stale_instances() {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(fs::temp_directory_path(), ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kStalePrefix, 0) != 0 || !entry.is_directory()) continue;
    // Only leftovers: a run takes minutes, another run may be live now.
    std::error_code time_error;
    const auto modified = fs::last_write_time(entry.path(), time_error);
    if (time_error || now - modified < std::chrono::minutes(30)) continue;
    const fs::path master_pid = entry.path() / "spool" / "pid" / "master.pid";
    if (fs::exists(master_pid) && process_alive(read_pid(master_pid), "master")) {
      std::string output;
      run_program({kPostfix, "-c", (entry.path() / "etc").string(), "abort"}, output,
                  std::chrono::seconds(30));
      if (process_alive(read_pid(master_pid), "master")) kill(read_pid(master_pid), SIGKILL);
    }
    for (const auto& [pid_file, program] : {std::pair{"daemon.pid", "greylist-milter"},
                                            std::pair{"redis.pid", "redis-server"}}) {
      const fs::path path = entry.path() / pid_file;
      if (fs::exists(path) && process_alive(read_pid(path), program)) kill(read_pid(path), SIGKILL);
    }
    fs::remove_all(entry.path(), ec);
  }
}

}  // namespace greylist::testing
