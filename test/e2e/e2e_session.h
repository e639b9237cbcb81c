// What the end-to-end suites behind a private Postfix share:
//   - one SMTP session played as a chosen remote client (XCLIENT), one
//     message with a body that exercises SMTP transparency;
//   - how the daemon's greylisting reply reads on the wire, per front end,
//     and what a delivered message holds;
//   - stopping what a suite started (Postfix, daemons, redis-server) when
//     the test program gets SIGINT or SIGTERM: every part is registered in
//     a slot the signal handler reads (async-signal-safe: fixed arrays).
// doctest's REQUIRE stops a session whose set-up (connection, EHLO,
// XCLIENT, AUTH) fails.
#pragma once

#include <sys/types.h>

#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "e2e/postfix_instance.h"
#include "support/daemon_process.h"
#include "support/smtp_client.h"

namespace greylist::testing::e2e {

// XCLIENT's value for "no verified name": Postfix then calls it "unknown".
inline constexpr const char* kNoName = "[UNAVAILABLE]";

// The body every session sends (CRLF line ends, no final dot), and how
// Maildir holds it (LF line ends, one final newline).
extern const std::string kBody;
std::string body_on_disk();

struct Attempt {
  SmtpReply mail;
  std::vector<SmtpReply> rcpt;
  SmtpReply data;  // code 0 when no recipient was accepted
};

// The name each XCLIENT client gets: its own registered domain, so the
// core's pool-by-domain and sender-domain auto-whitelist never join two
// scenarios ("203.0.113.10" -> "mx.c-203-0-113-10.example").
std::string client_name(std::string address);

// One SMTP session with the smtpd on 127.0.0.1:`port`: XCLIENT as
// `client_address` named `name` (kNoName: without a verified name; no
// address: the real loopback client), optional SMTP AUTH as alice, one
// message to `mailboxes` at dest.test.
Attempt send_mail_as(int port, const std::string& client_address, const std::string& name,
                     const std::string& sender, const std::vector<std::string>& mailboxes,
                     bool authenticate = false);

// The daemon's greylisting tempfail: through the milter (450 4.2.0 ...)
// and through check_policy_service (DEFER_IF_PERMIT: 450 with the text).
bool greylisted_by_milter(const SmtpReply& reply);
bool greylisted_by_policy(const SmtpReply& reply);

struct DeliveredMessage {
  std::vector<std::string> greylist_headers;  // every "X-Greylist:" line
  std::string body;
};
// Waits (bounded) for the delivery of one more message to `mailbox` (it
// held `before`), reads it and checks its body is kBody's (REQUIRE: a
// message must arrive).
DeliveredMessage delivered_message(const PostfixInstance& postfix, const std::string& mailbox,
                                   std::size_t before);
// N of "X-Greylist: delayed N seconds by greylist-milter-VERSION at
// HOSTNAME; DATE", -1 for any other header.
long delayed_seconds(const std::string& header, const std::string& hostname);

// Whether `reply` is the greylisting tempfail of `service`'s front end
// (the policy service for kPolicy and kPolicyAuth, the milter otherwise).
bool greylisted(PostfixInstance::Service service, const SmtpReply& reply);

// What the signal handler stops: one slot per environment a suite builds.
struct RunningParts {
  char postfix_etc[PATH_MAX];  // config_directory of a running Postfix, "" when none
  volatile pid_t daemon_pid;
  volatile pid_t redis_pid;
};
inline constexpr int kRunningSlots = 4;
RunningParts& running_parts(int slot);  // 0 <= slot < kRunningSlots
// A Postfix in front of `daemon` (its milter_port and policy_port), in
// daemon.dir/postfix so that GREYLIST_E2E_KEEP keeps both, with
// `mailboxes` at dest.test; registered in `parts` and the signal handler
// installed before it starts. Throws as PostfixInstance's constructor.
std::unique_ptr<PostfixInstance> start_postfix_for(const DaemonProcess& daemon,
                                                   const std::vector<std::string>& mailboxes,
                                                   RunningParts& parts);
// Installs the SIGINT/SIGTERM handler: kills the registered daemons and
// redis-servers, aborts the registered Postfix instances, exits 128+N.
void stop_running_parts_on_signals();

}  // namespace greylist::testing::e2e
