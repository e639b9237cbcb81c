// RedisConnection: one hiredis connection to a Redis server or sentinel.
//
// Every round trip is bounded by the caller's deadline (the socket timeout
// follows the time left). A failure to send or receive marks the connection
// broken (it must not be used again) and is kUnavailable; an error reply
// that says the server cannot serve marks it broken too, and says the server
// failed. Thread-safety: used by one call at a time (the pool hands it out).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"
#include "store/redis_reply.h"
#include "store/redis_url.h"

namespace greylist {

class RedisConnection {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // What open() connects to: a sentinel; the server; the server, which must
  // be a master (checked with ROLE).
  enum class Peer { kSentinel, kServer, kMaster };

  // Connects to `target` by `deadline`, then logs in (AUTH) and selects the
  // database as the URL says, checks the role (kMaster) and loads the
  // compare-and-set script (not on a sentinel), in one round trip.
  // kUnavailable when there is no time left, the peer cannot be reached or
  // is not a master (yet); kInvalidArgument when it refuses the login or
  // the database; kIoError for other refusals and unexpected replies.
  // `slack`: how far the socket timeout may be from the time left before it
  // is set again (saves two setsockopt calls per round trip).
  // `guard_sigpipe`: whether writes need a SigpipeGuard.
  static Result<std::unique_ptr<RedisConnection>> open(const RedisUrl& target, TimePoint deadline,
                                                       Peer peer, std::chrono::microseconds slack,
                                                       bool guard_sigpipe);

  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // The pool's generation the connection belongs to.
  std::uint64_t generation() const { return generation_; }
  void set_generation(std::uint64_t generation) { generation_ = generation; }

  // Resets the state of the current call when the pool hands it out.
  void start_call(bool reused);
  bool reused() const { return reused_; }
  int round_trips() const { return round_trips_; }
  // The connection cannot be used again (closed, timed out, or in an unknown
  // protocol state).
  bool broken() const { return broken_; }
  // It was closed by the server (not timed out).
  bool closed_by_peer() const { return closed_by_peer_; }
  // The failure says the server cannot serve: start the back-off.
  bool server_failed() const { return server_failed_; }
  // Marks the connection unusable (an unexpected reply).
  void fail() { broken_ = true; }

  // Sends `commands` in one write and reads their replies, all by
  // `deadline`. Nothing is sent when the deadline has passed (kUnavailable,
  // the connection stays usable).
  Result<std::vector<redis::ReplyPtr>> round_trip(const std::vector<redis::Args>& commands,
                                                  TimePoint deadline);

  // The status of a single reply that must not be an error (an error that
  // says the server cannot serve breaks the connection).
  Status check_reply(const redisReply& reply);
  // The replies of MULTI, the queued commands and EXEC: ok, or why not.
  Status check_transaction(const std::vector<redis::ReplyPtr>& replies);

  // The SHA1 of the compare-and-set script as the server reported it.
  const std::string& cas_script_sha() const { return cas_script_sha_; }

 private:
  struct ContextDeleter {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
  };

  RedisConnection(redisContext* context, std::chrono::microseconds slack, bool guard_sigpipe);
  // AUTH, SELECT, ROLE, SCRIPT LOAD as open() says; `where` names the peer.
  Status set_up(const RedisUrl& target, Peer peer, const std::string& where, TimePoint deadline);
  Status error_reply(const redisReply& reply);
  Status transport_failure(const char* doing);

  std::unique_ptr<redisContext, ContextDeleter> context_;
  const std::chrono::microseconds slack_;
  const bool guard_sigpipe_;
  std::chrono::microseconds socket_timeout_{-1};  // as last set on the socket; -1: never set
  std::uint64_t generation_ = 0;
  std::string cas_script_sha_;
  bool reused_ = false;
  int round_trips_ = 0;
  bool broken_ = false;
  bool closed_by_peer_ = false;
  bool server_failed_ = false;
};

}  // namespace greylist
