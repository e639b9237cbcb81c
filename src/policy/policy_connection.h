// PolicyConnection: one policy client's connection, from accept to close.
//
// It lives on the worker loop its socket belongs to: reads, decisions and
// writes run on that loop's single thread, with no strand and no lock. It
// reads requests (PolicyRequestParser's bounds: a violation is a warning
// and closes the connection), answers each in order (PolicyResponder; a
// request waiting for DNS lists or SPF suspends the connection's coroutine,
// not its thread: policy_dns_step.h), holds replies whose writes wait for a
// shared commit (HeldReplies; --on-error's reply when they did not become
// durable), and closes a connection that completed no request for
// settings.idle_timeout (unless it is waiting for a lookup, which ends by
// its own deadline). With settings.close_after_reply (--exim) it closes
// after its first reply.
//
// What it needs of its server it asks through PolicyConnectionHost, which
// must outlive every connection's coroutines (they end when the worker
// loops' io_contexts are destroyed, at the latest).
#pragma once

#include <boost/asio/execution_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "greylist/clock.h"
#include "greylist/greylister.h"
#include "greylist/status.h"
#include "policy/held_replies.h"
#include "policy/policy_request_parser.h"
#include "policy/policy_responder.h"
#include "policy/policy_server.h"

namespace greylist {

// The server side of a connection. Called on the connection's worker
// thread; the implementation is thread-safe (connections of every worker
// call it at once).
class PolicyConnectionHost {
 public:
  // open()'s settings: limits, idle timeout, --exim, DNS lists, SPF checker.
  virtual const PolicySettings& settings() const = 0;
  // What requests are answered with now (set_replies()).
  virtual std::shared_ptr<const PolicySettings> replies() const = 0;
  virtual const PolicyLimits& limits() const = 0;
  virtual const Greylister& greylister() const = 0;
  virtual const Clock& clock() const = 0;
  // Logs a request's lines (decision lines unless quiet; peer and store
  // lines rate-limited).
  virtual void emit(const std::vector<PolicyLogRecord>& records) = 0;
  // A peer's bad input (rate-limited warning).
  virtual void peer_warning(const std::string& message) = 0;
  // `peer` completed no request within the idle timeout (rate-limited).
  virtual void idle_timeout(const std::string& peer) = 0;
  // `replies` held replies became --on-error's: their writes failed.
  virtual void undurable(const Status& status, std::size_t replies) = 0;
  // The held replies of the worker loop `loop`; nullptr without shared commits.
  virtual HeldReplies* held_replies(const boost::asio::execution_context& loop) const = 0;
  // Connection `id` closed (always called, once, at its end).
  virtual void connection_finished(std::uint64_t id) = 0;

 protected:
  ~PolicyConnectionHost() = default;
};

class PolicyConnection {
 public:
  virtual ~PolicyConnection() = default;
  // Starts serving: the connection keeps itself alive until it closes, and
  // then calls host.connection_finished(id). Call once.
  virtual void start() = 0;
  // Closes the connection once its current request is answered (now, if
  // it is waiting for input). Thread-safe.
  virtual void shutdown() = 0;
};

// A connection on `socket` (whose executor is a worker loop's), named
// `peer` in the log; not serving until start().
std::shared_ptr<PolicyConnection> make_policy_connection(PolicyConnectionHost& host,
                                                         boost::asio::ip::tcp::socket socket,
                                                         std::string peer, std::uint64_t id);
std::shared_ptr<PolicyConnection> make_policy_connection(
    PolicyConnectionHost& host, boost::asio::local::stream_protocol::socket socket,
    std::string peer, std::uint64_t id);

}  // namespace greylist
