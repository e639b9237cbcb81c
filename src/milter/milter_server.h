// MilterServer: the libmilter front end.
//
// Gates each recipient at RCPT time through the shared Greylister (tempfail
// with smfi_setreply on greylist, reject with 550 5.7.1 for a blacklist
// rule; a session thread waits up to --dns-timeout for the rules' DNS
// lists), and inserts the X-Greylist header at end-of-message when a
// recipient of the message passed after a delay.
// Negotiates with the MTA to be sent no headers, body, DATA or unknown
// commands, and asks for the {auth_authen} and {i} macros. Clients in
// skip_networks and clients without an address are not greylisted and not
// given to the core (logged as "action=pass, reason=..."); SMTP AUTH is the
// core's step, fed by {auth_authen}. Decisions themselves are in
// MilterSession (milter_session.h).
//
// One per process: libmilter keeps its filter, socket and stop flag in
// globals, and smfi_main() can run only once in a process. open() fails
// while another MilterServer exists or after one has run.
//
// Lifecycle: open() registers the filter and creates the listening socket
// (before privileges are dropped; a stale unix socket is replaced, one a
// running process serves is refused: util/unix_socket_file.h);
// run() serves until stop() (blocks in smfi_main, on its own thread);
// stop() is thread-safe and idempotent, and run() returns within about
// 100 ms of it. The destructor stops the server, removes the unix socket's
// file if it is still the one open() created, and waits (up to 1.5 s) for
// callbacks in progress; libmilter's session threads that outlive it answer
// RCPT by --on-error.
//
// Signals: smfi_main() starts a libmilter thread meant to sigwait() for
// SIGHUP, SIGTERM and SIGINT and stop the milter on any of them; in this
// build it never takes one (libmilter_signal_thread.h), and the daemon's
// main thread handles them (daemon/control_signals.h). Should libmilter
// stop anyway (its listener failing), run() returns on its own (logged) and
// the daemon treats that as a shutdown.
//
// Connections: over TCP, a MilterConnectionGuard runs while run() serves
// and cuts off connections silent for limits.idle_timeout and those beyond
// limits.max_connections.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "greylist/front_end_settings.h"
#include "greylist/greylister.h"
#include "greylist/status.h"
#include "milter/milter_connection_guard.h"
#include "util/socket_spec.h"

namespace greylist {

struct MilterSettings {
  SocketSpec socket;                    // --milter
  unsigned socket_mode = 0666;          // --socketmode, for a unix socket
  FrontEndSettings common;
  std::string reply_code = "450";       // --milter-reply-code
  std::string enhanced_code = "4.2.0";  // --milter-enhanced-code
  bool header_always = false;           // --x-greylist-header-always
  // Clients never greylisted (--skip-networks), CIDR text; loopback by default.
  std::vector<std::string> skip_networks = {"127.0.0.0/8", "::1/128"};
  std::chrono::seconds timeout{30};     // libmilter I/O timeout with the MTA (>= 1 s)
  // Idle and count bounds on accepted TCP connections (libmilter has none).
  MilterConnectionLimits limits;
  int listen_backlog = 0;               // --listen-queue-size (0: libmilter's default)
};

class MilterServer {
 public:
  // Validates the settings (InvalidArgument naming the bad one), registers
  // the filter and listens (Unavailable naming the socket and the reason).
  // `greylister` and `clock` must outlive the server.
  static Result<std::unique_ptr<MilterServer>> open(MilterSettings settings,
                                                    const Greylister& greylister,
                                                    const Clock& clock);
  virtual ~MilterServer() = default;
  // Serves until stop(); call once, on a dedicated thread.
  virtual void run() = 0;
  // Thread-safe, idempotent; may be called before run().
  virtual void stop() = 0;
  // Answers connections that begin from now on with the reply settings of
  // `settings` (common: texts, header, hostname, on_error; reply_code,
  // enhanced_code, header_always); the socket, skip networks, limits,
  // timeout, DNS lists (common.dns) and SPF checker (common.spf) stay as open()
  // set them. A connection in progress finishes
  // with the settings it began with. InvalidArgument (nothing changes) when
  // they are malformed, as open()'s. Thread-safe (SIGHUP).
  virtual Status set_replies(const MilterSettings& settings) = 0;
};

}  // namespace greylist
