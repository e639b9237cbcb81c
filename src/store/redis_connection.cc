#include "store/redis_connection.h"

#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "store/redis_scripts.h"
#include "store/sigpipe_guard.h"

namespace greylist {
namespace {

using redis::Args;
using redis::ReplyPtr;
using redis::reply_text;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using SteadyClock = std::chrono::steady_clock;

// The time left until `deadline` as a socket timeout: at least 1 ms (a zero
// timeval would mean "no timeout").
timeval socket_timeout(RedisConnection::TimePoint deadline) {
  const auto left = std::max<std::int64_t>(
      1000, duration_cast<microseconds>(deadline - SteadyClock::now()).count());
  return timeval{static_cast<time_t>(left / 1'000'000), static_cast<suseconds_t>(left % 1'000'000)};
}

// The commands that prepare a new connection (see RedisConnection::open).
std::vector<Args> setup_commands(const RedisUrl& target, RedisConnection::Peer peer,
                                 const std::string& database) {
  std::vector<Args> setup;
  if (!target.password.empty()) {
    if (target.user.empty()) {
      setup.push_back({"AUTH", target.password});
    } else {
      setup.push_back({"AUTH", target.user, target.password});
    }
  }
  if (target.database != 0) setup.push_back({"SELECT", database});
  if (peer == RedisConnection::Peer::kMaster) setup.push_back({"ROLE"});
  // Every connection to the server loads the update script (a no-op when the
  // server has it), so the first update after a restart or a failover finds
  // it on the new server; update() reloads it if the server lost it since.
  if (peer != RedisConnection::Peer::kSentinel) setup.push_back({"SCRIPT", "LOAD", redis::kCasScript});
  return setup;
}

// An error reply to a set-up command.
Status setup_refused(const std::string& where, std::string_view command, const redisReply& reply) {
  const Status s = redis::error_reply_status(reply);
  if (s.code() == Status::Code::kInvalidArgument || command == "AUTH" || command == "SELECT") {
    // A refused AUTH or SELECT is a configuration error, not an outage.
    return Status::InvalidArgument(where + " refused " + std::string(command) + ": " + s.message());
  }
  if (s.code() == Status::Code::kUnavailable || command == "ROLE") {
    return Status::Unavailable(where + ": " + s.message());
  }
  return Status::IoError(where + " refused " + std::string(command) + ": " + s.message());
}

}  // namespace

RedisConnection::RedisConnection(redisContext* context, microseconds slack, bool guard_sigpipe)
    : context_(context), slack_(slack), guard_sigpipe_(guard_sigpipe) {}

Result<std::unique_ptr<RedisConnection>> RedisConnection::open(const RedisUrl& target,
                                                               TimePoint deadline, Peer peer,
                                                               microseconds slack,
                                                               bool guard_sigpipe) {
  const std::string where = target.kind == RedisUrl::Kind::kUnix ? target.path
                                                                 : target.address.to_string();
  if (SteadyClock::now() >= deadline) {
    return Status::Unavailable("no time left to connect to " + where);
  }
  const timeval timeout = socket_timeout(deadline);
  redisContext* raw = target.kind == RedisUrl::Kind::kUnix
                          ? redisConnectUnixWithTimeout(target.path.c_str(), timeout)
                          : redisConnectWithTimeout(target.address.host.c_str(),
                                                    target.address.port, timeout);
  if (raw == nullptr) return Status::Unavailable("cannot allocate a connection to " + where);
  std::unique_ptr<RedisConnection> connection(new RedisConnection(raw, slack, guard_sigpipe));
  if (raw->err != 0) {
    return Status::Unavailable("cannot connect to " + where + ": " + raw->errstr);
  }
  if (target.kind == RedisUrl::Kind::kTcp) redisEnableKeepAlive(raw);
  if (Status s = connection->set_up(target, peer, where, deadline); !s.ok()) return s;
  return connection;
}

Status RedisConnection::set_up(const RedisUrl& target, Peer peer, const std::string& where,
                               TimePoint deadline) {
  const std::string database = std::to_string(target.database);
  const std::vector<Args> setup = setup_commands(target, peer, database);
  if (setup.empty()) return Status::Ok();
  start_call(false);
  auto replies = round_trip(setup, deadline);
  if (!replies.ok()) return Status::Unavailable(where + ": " + replies.status().message());
  for (std::size_t i = 0; i < setup.size(); ++i) {
    const redisReply& reply = *replies.value()[i];
    const std::string_view command = setup[i][0];
    if (reply.type == REDIS_REPLY_ERROR) return setup_refused(where, command, reply);
    if (command == "SCRIPT") {
      if (reply.type != REDIS_REPLY_STRING || reply.len == 0) {
        return Status::IoError(where + ": unexpected reply to SCRIPT LOAD");
      }
      cas_script_sha_ = reply_text(reply);
    }
    if (command == "ROLE") {
      if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0 ||
          reply_text(*reply.element[0]) != "master") {
        return Status::Unavailable(where + " is not a master (yet)");
      }
    }
  }
  return Status::Ok();
}

void RedisConnection::start_call(bool reused) {
  reused_ = reused;
  round_trips_ = 0;
  broken_ = false;
  closed_by_peer_ = false;
  server_failed_ = false;
}

Result<std::vector<ReplyPtr>> RedisConnection::round_trip(const std::vector<Args>& commands,
                                                          TimePoint deadline) {
  if (SteadyClock::now() >= deadline) {
    // Nothing sent: the connection stays usable.
    return Status::Unavailable("timed out before sending");
  }
  redisContext* const c = context_.get();
  const timeval timeout = socket_timeout(deadline);
  const microseconds wanted(std::int64_t{timeout.tv_sec} * 1'000'000 + timeout.tv_usec);
  if (socket_timeout_ < wanted - slack_ || socket_timeout_ > wanted + slack_) {
    if (redisSetTimeout(c, timeout) != REDIS_OK) return transport_failure("setting the timeout");
    socket_timeout_ = wanted;
  }
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const Args& command : commands) {
    argv.clear();
    lengths.clear();
    for (const std::string_view arg : command) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
        REDIS_OK) {
      return transport_failure("queueing a command");
    }
  }
  std::vector<ReplyPtr> replies;
  replies.reserve(commands.size());
  std::optional<SigpipeGuard> no_sigpipe;
  if (guard_sigpipe_) no_sigpipe.emplace();
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return transport_failure("reading a reply");
    if (raw == nullptr) return transport_failure("reading a reply");
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  ++round_trips_;
  return replies;
}

Status RedisConnection::error_reply(const redisReply& reply) {
  Status s = redis::error_reply_status(reply);
  if (s.code() == Status::Code::kUnavailable) {
    broken_ = true;
    server_failed_ = true;
  }
  return s;
}

Status RedisConnection::check_reply(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR) return Status::Ok();
  return error_reply(reply);
}

Status RedisConnection::check_transaction(const std::vector<ReplyPtr>& replies) {
  for (std::size_t i = 0; i + 1 < replies.size(); ++i) {
    const redisReply& reply = *replies[i];
    // EXEC then answers EXECABORT: the transaction is over, nothing applied.
    if (reply.type == REDIS_REPLY_ERROR) return error_reply(reply);
    if (!redis::is_status(reply, i == 0 ? "OK" : "QUEUED")) {
      fail();
      return Status::IoError("unexpected reply in a transaction");
    }
  }
  const redisReply& exec = *replies.back();
  if (exec.type == REDIS_REPLY_ERROR) return error_reply(exec);
  if (exec.type != REDIS_REPLY_ARRAY || exec.elements != replies.size() - 2) {
    fail();
    return Status::IoError("unexpected reply to EXEC");
  }
  for (std::size_t i = 0; i < exec.elements; ++i) {
    if (exec.element[i]->type == REDIS_REPLY_ERROR) {
      return redis::error_reply_status(*exec.element[i]);
    }
  }
  return Status::Ok();
}

Status RedisConnection::transport_failure(const char* doing) {
  const int error = errno;
  redisContext* const c = context_.get();
  broken_ = true;
  server_failed_ = true;
  std::string reason = c->errstr[0] != '\0' ? c->errstr : "unknown error";
  if (c->err == REDIS_ERR_EOF || (c->err == REDIS_ERR_IO && (error == ECONNRESET || error == EPIPE))) {
    closed_by_peer_ = true;
  } else if (c->err == REDIS_ERR_IO && (error == EAGAIN || error == EWOULDBLOCK)) {
    reason = "no answer in time";
  }
  return Status::Unavailable(std::string(doing) + ": " + reason);
}

}  // namespace greylist
