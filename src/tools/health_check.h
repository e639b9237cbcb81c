// Health checks against a running daemon, speaking the real protocols:
// a policy-delegation probe and a milter option negotiation. Each is
// bounded by its timeout (connect, write and read together) and records
// nothing in the daemon's database.
#pragma once

#include <chrono>
#include <string>

#include "util/socket_spec.h"

namespace greylist {

struct HealthResult {
  bool healthy = false;
  std::string detail;  // "action=DUNNO", or what went wrong
  std::chrono::milliseconds elapsed{0};
};

// The policy probe: a request at protocol_state VRFY with no sender and no
// recipient, which greylist-milter answers "action=DUNNO" without touching
// the database (and postgrey, which ignores the state, answers DUNNO for
// the missing attributes, recording nothing either). Healthy only on that
// exact reply.
inline constexpr const char* kPolicyProbe =
    "request=smtpd_access_policy\n"
    "protocol_state=VRFY\n"
    "protocol_name=SMTP\n"
    "client_address=127.0.0.1\n"
    "client_name=localhost\n"
    "instance=greylistctl.check\n"
    "\n";
inline constexpr const char* kPolicyProbeReply = "action=DUNNO\n\n";

HealthResult check_policy(const SocketSpec& socket, std::chrono::milliseconds timeout);

// SMFIC_OPTNEG offering protocol version 6 (as Postfix does); healthy when
// the reply is an SMFIC_OPTNEG packet of at least 12 bytes with version
// 2..6. SMFIC_QUIT follows, so the milter ends the session at once.
HealthResult check_milter(const SocketSpec& socket, std::chrono::milliseconds timeout);

}  // namespace greylist
