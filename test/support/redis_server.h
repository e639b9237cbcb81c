// RedisServer: a private redis-server (or sentinel) for a test, on a free
// 127.0.0.1 port with its own temporary directory, no persistence. Started
// by the constructor, killed and its directory removed by the destructor.
// Every wait is bounded (5 s); a server that does not come up throws.
//
// RedisClient: a plain hiredis connection for tests to look at what a store
// wrote (TTL, raw keys, INFO), independent of RedisStore.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/temp_dir.h"

struct redisContext;
struct redisReply;

namespace greylist::testing {

class RedisServer {
 public:
  // A server; `extra` are more redis-server arguments ("--replicaof", ...).
  // Throws std::runtime_error (naming the log) if it does not answer PING
  // within 5 s, or when /usr/bin/redis-server is missing.
  explicit RedisServer(std::vector<std::string> extra = {});
  // A sentinel monitoring `master_name` at 127.0.0.1:master_port (quorum
  // `quorum`, down after `down_after_ms`).
  static std::unique_ptr<RedisServer> sentinel(int master_port, const std::string& master_name,
                                               int quorum, int down_after_ms);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }

  // SIGKILL and reap (bounded).
  void kill();
  // SIGSTOP / SIGCONT: a server that accepts connections but never answers.
  void pause();
  void resume();
  // Starts it again with the same arguments on the same port (after kill()).
  void restart();
  bool running() const { return process_ != nullptr; }
  // The server's process id, -1 when it is not running.
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // What the server logged.
  std::string log() const;

 private:
  RedisServer(std::vector<std::string> argv_tail, bool sentinel);
  void start();

  int port_;
  TempDir temp_;
  std::string dir_;  // temp_.path()
  std::vector<std::string> argv_;
  std::unique_ptr<ChildProcess> process_;
};

// Reply of a RedisClient command, flattened for checks.
struct RedisValue {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError } type = Type::kNil;
  std::string text;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisValue> elements;
};

class RedisClient {
 public:
  // Connects to 127.0.0.1:port (1 s timeout); ok() tells.
  explicit RedisClient(int port);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  bool ok() const;
  // Runs one command (binary-safe arguments); nullopt on a connection error.
  std::optional<RedisValue> command(const std::vector<std::string>& args);

 private:
  redisContext* context_ = nullptr;
};

// A primary, a replica of it and three sentinels (quorum 2, the primary
// deemed down after 1 s) on loopback, all ready: the replica in sync, the
// sentinels aware of it and of each other. Throws std::runtime_error when
// that takes more than 30 s.
class RedisFailoverSet {
 public:
  explicit RedisFailoverSet(const std::string& master_name = "mymaster");
  std::unique_ptr<RedisServer> primary;
  std::unique_ptr<RedisServer> replica;
  std::vector<std::unique_ptr<RedisServer>> sentinels;
  // "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
  std::string sentinel_list() const;
  // Waits (bounded) until the sentinels name the replica as the master.
  bool wait_for_promotion(std::chrono::milliseconds timeout) const;

 private:
  std::string master_name_;
};

// The calls count of `command` (lower case, "set") in INFO commandstats.
long long redis_command_calls(RedisClient& client, const std::string& command);

}  // namespace greylist::testing
