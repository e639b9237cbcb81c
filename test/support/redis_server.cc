#include "support/redis_server.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <thread>

#include "support/file_text.h"

namespace greylist::testing {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr auto kStartPatience = std::chrono::seconds(5);

RedisValue flatten(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::kString;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::kStatus;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      value.type = RedisValue::Type::kError;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::kInteger;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::kArray;
      for (std::size_t i = 0; i < reply.elements; ++i) value.elements.push_back(flatten(*reply.element[i]));
      break;
    default:
      break;
  }
  return value;
}

bool answers_ping(int port) {
  RedisClient client(port);
  if (!client.ok()) return false;
  const auto reply = client.command({"PING"});
  // A server with a password answers too, with an error.
  return reply && ((reply->type == RedisValue::Type::kStatus && reply->text == "PONG") ||
                   (reply->type == RedisValue::Type::kError && reply->text.starts_with("NOAUTH")));
}

}  // namespace

RedisServer::RedisServer(std::vector<std::string> extra) : RedisServer(std::move(extra), false) {}

RedisServer::RedisServer(std::vector<std::string> argv_tail, bool sentinel)
    : port_(free_loopback_port()), temp_("redis-test"), dir_(temp_.path()) {
  if (::access(kRedisServer, X_OK) != 0) {
    throw std::runtime_error("redis-server not found: apt-get install redis-server");
  }
  argv_ = {kRedisServer};
  if (sentinel) {
    // A sentinel rewrites its configuration file: it must be its own.
    const std::string config = dir_ + "/sentinel.conf";
    std::ofstream out(config);
    for (const auto& line : argv_tail) out << line << "\n";
    argv_tail.clear();
    argv_.push_back(config);
    argv_.push_back("--sentinel");
  }
  const std::vector<std::string> common{"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                        "--dir", dir_, "--daemonize", "no", "--logfile", ""};
  argv_.insert(argv_.end(), common.begin(), common.end());
  if (!sentinel) {
    const std::vector<std::string> no_persistence{"--save", "", "--appendonly", "no"};
    argv_.insert(argv_.end(), no_persistence.begin(), no_persistence.end());
  }
  argv_.insert(argv_.end(), argv_tail.begin(), argv_tail.end());
  try {
    start();
  } catch (...) {
    process_.reset();
    throw;
  }
}

std::unique_ptr<RedisServer> RedisServer::sentinel(int master_port, const std::string& master_name,
                                                   int quorum, int down_after_ms) {
  std::vector<std::string> config{
      "sentinel monitor " + master_name + " 127.0.0.1 " + std::to_string(master_port) + " " +
          std::to_string(quorum),
      "sentinel down-after-milliseconds " + master_name + " " + std::to_string(down_after_ms),
      "sentinel failover-timeout " + master_name + " 4000",
      "sentinel parallel-syncs " + master_name + " 1"};
  return std::unique_ptr<RedisServer>(new RedisServer(std::move(config), true));
}

RedisServer::~RedisServer() {
  process_.reset();  // SIGKILLs and reaps; temp_ then removes the directory
}

void RedisServer::start() {
  process_ = std::make_unique<ChildProcess>(argv_, dir_ + "/redis.log");
  const auto deadline = std::chrono::steady_clock::now() + kStartPatience;
  while (!answers_ping(port_)) {
    if (process_->wait_for_exit(std::chrono::milliseconds(0))) {
      const std::string output = process_->output();
      process_.reset();
      throw std::runtime_error("redis-server exited at start: " + output);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                               " did not answer within 5 s: " + process_->output());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_for_exit(std::chrono::seconds(5));
  process_.reset();
}

void RedisServer::pause() {
  if (process_) process_->signal(SIGSTOP);
}

void RedisServer::resume() {
  if (process_) process_->signal(SIGCONT);
}

void RedisServer::restart() {
  kill();
  start();
}

std::string RedisServer::log() const { return read_file(dir_ + "/redis.log"); }

RedisClient::RedisClient(int port) {
  const timeval timeout{1, 0};
  context_ = redisConnectWithTimeout("127.0.0.1", port, timeout);
  if (context_ != nullptr && context_->err == 0) redisSetTimeout(context_, timeout);
}

RedisClient::~RedisClient() {
  if (context_ != nullptr) redisFree(context_);
}

bool RedisClient::ok() const { return context_ != nullptr && context_->err == 0; }

std::optional<RedisValue> RedisClient::command(const std::vector<std::string>& args) {
  if (!ok()) return std::nullopt;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) return std::nullopt;
  RedisValue value = flatten(*reply);
  freeReplyObject(reply);
  return value;
}

namespace {

// Polls `ready` every 50 ms until it holds or `timeout` passes.
template <typename Ready>
bool wait_until(Ready&& ready, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool info_says(int port, const std::string& section, const std::string& text) {
  RedisClient client(port);
  const auto info = client.command({"INFO", section});
  return info && info->type == RedisValue::Type::kString && info->text.find(text) != std::string::npos;
}

std::size_t sentinel_count(int port, const std::string& what, const std::string& master_name) {
  RedisClient client(port);
  const auto reply = client.command({"SENTINEL", what, master_name});
  return reply && reply->type == RedisValue::Type::kArray ? reply->elements.size() : 0;
}

}  // namespace

RedisFailoverSet::RedisFailoverSet(const std::string& master_name) : master_name_(master_name) {
  using std::chrono::seconds;
  primary = std::make_unique<RedisServer>();
  replica = std::make_unique<RedisServer>(
      std::vector<std::string>{"--replicaof", "127.0.0.1", std::to_string(primary->port())});
  if (!wait_until([&] { return info_says(replica->port(), "replication", "master_link_status:up"); },
                  seconds(10))) {
    throw std::runtime_error("the replica did not sync with the primary within 10 s");
  }
  for (int i = 0; i < 3; ++i) {
    sentinels.push_back(RedisServer::sentinel(primary->port(), master_name, 2, 1000));
  }
  // Sentinels learn of replicas from the primary's INFO, and of each other
  // from hello messages every 2 s.
  const bool aware = wait_until(
      [&] {
        for (const auto& sentinel : sentinels) {
          if (sentinel_count(sentinel->port(), "replicas", master_name) < 1) return false;
          if (sentinel_count(sentinel->port(), "sentinels", master_name) < 2) return false;
        }
        return true;
      },
      seconds(20));
  if (!aware) throw std::runtime_error("the sentinels did not see the replica and each other in 20 s");
}

std::string RedisFailoverSet::sentinel_list() const {
  std::string list;
  for (const auto& sentinel : sentinels) {
    if (!list.empty()) list += ",";
    list += sentinel->host_port();
  }
  return list;
}

bool RedisFailoverSet::wait_for_promotion(std::chrono::milliseconds timeout) const {
  const std::string replica_port = std::to_string(replica->port());
  return wait_until(
      [&] {
        RedisClient client(sentinels[0]->port());
        const auto reply = client.command({"SENTINEL", "get-master-addr-by-name", master_name_});
        return reply && reply->elements.size() == 2 && reply->elements[1].text == replica_port &&
               info_says(replica->port(), "replication", "role:master");
      },
      timeout);
}

long long redis_command_calls(RedisClient& client, const std::string& command) {
  const auto info = client.command({"INFO", "commandstats"});
  if (!info || info->type != RedisValue::Type::kString) return -1;
  const std::string marker = "cmdstat_" + command + ":calls=";
  const auto at = info->text.find(marker);
  if (at == std::string::npos) return 0;
  return std::stoll(info->text.substr(at + marker.size()));
}

}  // namespace greylist::testing
