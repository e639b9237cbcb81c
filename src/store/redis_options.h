// RedisOptions: where and how a RedisStore reaches its server.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "store/redis_url.h"

namespace greylist {

struct RedisOptions {
  // The server (--redis). With sentinels, only its user, password and
  // database are used: the address comes from the sentinels.
  RedisUrl url;
  // Sentinels (--redis-sentinel); empty: connect to url directly.
  std::vector<RedisHostPort> sentinels;
  std::string master_name = "mymaster";  // --redis-master
  std::string prefix = "greylist:";      // --redis-prefix
  // Deadline of each call (--redis-timeout): connecting, asking the
  // sentinels, every round trip and every retry together.
  std::chrono::milliseconds timeout{500};
  // Connections open at once, at most; a call finding all of them busy
  // waits for one until its deadline.
  std::size_t max_connections = 16;
  // Back-off after a failure: the first interval, doubled up to the last.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

}  // namespace greylist
