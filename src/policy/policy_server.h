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
// thread or a signal-handling thread: listeners close at once, idle
// connections are closed, a connection answering a request closes after
// writing its reply, and run() returns when all are gone or after
// `drain_timeout`, whichever is first (a thread inside Greylister::decide()
// is still waited for). Destroy the server only when run() is not running.
//
// Requests and replies: src/policy/policy_request_parser.h (bounds,
// malformed input) and src/policy/policy_responder.h (every answer).
//
// DNS lists (settings.common.dns): a request whose rules need DNS answers
// waits for them without holding its thread (policy_dns_step.h), which
// serves its other connections meanwhile; the requests after it on the
// same connection are answered after it, in order. The resolver's lookups
// must all have ended (LazyResolver::stop()) before the server is
// destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "greylist/deferred_commits.h"
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
  unsigned threads = 4;                     // threads serving connections (plus one accepting)
  std::chrono::milliseconds drain_timeout{1500};
  int listen_backlog = 0;                   // --listen-queue-size (0: the system's maximum)
  bool close_after_reply = false;           // --exim: one request per connection
};

class PolicyServer {
 public:
  // Binds every socket in settings.sockets (kNone entries are skipped).
  // Errors name the socket and the reason (address in use, permission).
  // A unix socket path holding a stale socket is replaced; one that still
  // answers, or any other kind of file, is an error. The server removes the
  // socket files it made when it is destroyed (if they are still its own).
  // IPv6 listeners are v6-only.
  // `greylister` and `clock` must outlive the server. With `commits` (the
  // greylister's store's deferred_commits(), which must outlive the server)
  // each worker loop shares commits: its decisions' writes are deferred and
  // their replies held until one flush covers them all (HeldReplies); a
  // reply whose writes could not be made durable becomes --on-error's.
  static Result<std::unique_ptr<PolicyServer>> open(PolicySettings settings,
                                                    const Greylister& greylister,
                                                    const Clock& clock,
                                                    DeferredCommits* commits = nullptr);
  virtual ~PolicyServer() = default;

  // Serves until stop(); blocks the calling thread, which accepts
  // connections, while settings.threads threads serve them: each connection
  // stays on one of these threads (dealt out in turn) from accept to close,
  // so a decision that blocks (a lock wait, an fsync) delays the other
  // connections of its thread only. Call once.
  virtual void run() = 0;
  // Thread-safe; idempotent; may come before run() (run() then returns soon).
  virtual void stop() = 0;
  // Answers from the next request on with the reply settings of `settings`
  // (greylist_action and common: texts, header, hostname, on_error); the
  // sockets, threads, limits, DNS lists (common.dns) and SPF checker
  // (common.spf) stay as open() set
  // them. Thread-safe
  // (SIGHUP); a request being answered finishes with the old ones.
  virtual void set_replies(const PolicySettings& settings) = 0;
  // Every listening address in the order of settings.sockets, in Postfix
  // syntax with the port actually bound: "inet:127.0.0.1:10023",
  // "inet:[::1]:10023", "unix:/run/x.sock". A host name gives one entry per
  // address it resolved to ("localhost": 127.0.0.1 and ::1 when present).
  // A SocketSpec built with port 0 (tests; parse_socket_spec refuses it)
  // binds an ephemeral port, which shows here.
  virtual std::vector<std::string> bound_addresses() const = 0;
};

}  // namespace greylist
