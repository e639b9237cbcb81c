// PostfixInstance: a private Postfix for end-to-end tests.
//
// Everything lives under one directory: its own config_directory (main.cf,
// master.cf, SASL config and sasldb), queue_directory, data_directory,
// maillog_file and the Maildirs of the test domain "dest.test" (virtual(8)
// delivery as nobody). /etc/postfix is never touched. It listens on
// 127.0.0.1 only, one smtpd per Service, each on its own free port, all
// with XCLIENT allowed from loopback; mail to anything else bounces
// locally (no outbound SMTP).
//
// Requires root (Postfix's master runs as root) and the postfix and
// sasl2-bin packages (ensure_postfix_installed()).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace greylist::testing {

// Installs postfix and sasl2-bin with the repository's
// scripts/ensure-packages.sh when missing. Throws std::runtime_error with
// the reason when that is impossible (not root, no network).
void ensure_postfix_installed(const std::string& source_root);

class PostfixInstance {
 public:
  enum class Service {
    kMilter,        // smtpd_milters = the daemon; milter_default_action = tempfail
    kMilterAccept,  // the same milter with milter_default_action = accept
    kPolicy,        // check_policy_service only (README's recipient restrictions)
    kBoth,          // both hooks at once
    kMilterAuth,    // milter + SMTP AUTH (Cyrus SASL, sasldb)
    // SMTP AUTH, and check_policy_service asked for authenticated clients
    // too (no permit_sasl_authenticated before it): the policy front end
    // sees sasl_username
    kPolicyAuth,
  };

  struct Options {
    std::string root;                  // an existing, empty directory
    std::vector<std::string> mailboxes;  // local parts at dest.test
    int milter_port = 0;
    int policy_port = 0;
    std::string sasl_user = "alice";   // authenticates as "alice" (realm e2e.test)
    std::string sasl_password = "secret";
  };

  // Writes the configuration and starts Postfix; returns once every smtpd
  // port accepts connections. Throws std::runtime_error naming the failed
  // step (with Postfix's output) on failure; what was started is stopped.
  explicit PostfixInstance(Options options);
  // Stops Postfix (bounded; SIGKILLs the master if `postfix stop` fails).
  ~PostfixInstance();
  PostfixInstance(const PostfixInstance&) = delete;
  PostfixInstance& operator=(const PostfixInstance&) = delete;

  int port(Service service) const { return ports_.at(service); }
  // Delivered files of dest.test user `mailbox` (Maildir new/), sorted.
  std::vector<std::string> delivered(const std::string& mailbox) const;
  // Waits (bounded) until `mailbox` holds more than `already` messages;
  // returns the path of the newest, "" on timeout.
  std::string wait_for_delivery(const std::string& mailbox, std::size_t already,
                                std::chrono::seconds timeout = std::chrono::seconds(30)) const;
  std::string maillog() const;
  const std::string& root() const { return options_.root; }

  // Stops Postfix now (idempotent).
  void stop();

 private:
  void write_configuration() const;
  void start();
  bool master_running() const;

  Options options_;
  std::map<Service, int> ports_;
  bool started_ = false;
};

// Stops Postfix instances, daemons and redis-servers left behind by an
// earlier run of the e2e tests that was killed (directories
// "<tmp>/greylist-e2e-*" with spool/pid/master.pid, daemon.pid, redis.pid),
// and removes those directories.
void clean_up_stale_instances();

}  // namespace greylist::testing
