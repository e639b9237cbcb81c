// PolicyServer: the Postfix policy-delegation front end (SMTPD_POLICY_README).
//
// Listens on one or more sockets (TCP over IPv4/IPv6, unix), serves many
// connections at once, many requests per connection, each answered with one
// "action=..." line and an empty line. Every read is bounded (line length,
// attribute count, request size, idle time); a connection that breaks a
// bound is logged and closed, the others carry on.
//
// Lifecycle: open() binds every socket (as root if needed, before privileges
// are dropped); run() serves until stop(). stop() may be called from any
// thread or a signal-handling thread; run() then returns once in-flight
// requests are answered (bounded by `drain_timeout`).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "greylist/front_end_settings.h"
#include "greylist/greylister.h"
#include "greylist/status.h"
#include "util/socket_spec.h"

namespace greylist {

struct PolicySettings {
  std::vector<SocketSpec> sockets;          // --policy (and --inet/--unix aliases)
  unsigned socket_mode = 0666;              // --socketmode, for unix sockets
  std::string greylist_action = "DEFER_IF_PERMIT";  // --greylist-action
  FrontEndSettings common;
  std::size_t max_line_bytes = 4096;        // one "name=value" line
  std::size_t max_attributes = 256;         // per request
  std::size_t max_request_bytes = 65536;    // per request
  std::chrono::seconds idle_timeout{300};   // no complete request for this long: close
  std::size_t max_connections = 1000;       // beyond: accept and close at once, logged
  unsigned threads = 4;                     // threads serving connections
  std::chrono::milliseconds drain_timeout{1500};
};

class PolicyServer {
 public:
  // Binds every socket in settings.sockets (kNone entries are skipped).
  // Errors name the socket and the reason (address in use, permission).
  // `greylister` and `clock` must outlive the server.
  static Result<std::unique_ptr<PolicyServer>> open(PolicySettings settings,
                                                    const Greylister& greylister,
                                                    const Clock& clock);
  virtual ~PolicyServer() = default;

  // Serves until stop(); blocks the calling thread (and uses settings.threads).
  virtual void run() = 0;
  // Thread-safe; idempotent.
  virtual void stop() = 0;
  // The bound TCP ports, in the order of settings.sockets' inet entries
  // (useful when a test binds port 0... a port of 0 is rejected by
  // parse_socket_spec, so tests pick free ports).
  virtual std::vector<std::string> bound_addresses() const = 0;
};

}  // namespace greylist
