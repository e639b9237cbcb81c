// The policy server as the tests run it in-process.
//
// PolicyServerThread: an opened PolicyServer serving on a thread of its own
// from the constructor until stop() or the destructor. stop() waits at most
// 10 s for run() to return, then aborts: a hang is a failure, and a server
// left running would use objects the test is destroying.
//
// LoopbackPolicyServer: one on 127.0.0.1 (a free port), hostname
// "test.host", with `threads` threads (default one, so a request that
// blocked would stall every connection).
#pragma once

#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <optional>

#include "policy/policy_server.h"

namespace greylist::testing {

class PolicyServerThread {
 public:
  explicit PolicyServerThread(std::unique_ptr<PolicyServer> server);
  ~PolicyServerThread() { stop(); }
  PolicyServerThread(const PolicyServerThread&) = delete;
  PolicyServerThread& operator=(const PolicyServerThread&) = delete;

  void stop();
  // stop(), and how long run() took to return; nullopt when it had not
  // within `limit` (stop() and the destructor still wait for it).
  std::optional<std::chrono::milliseconds> stop_and_time(std::chrono::milliseconds limit);
  PolicyServer& server() const { return *server_; }
  // The port of the i-th bound address ("inet:HOST:PORT").
  int port(std::size_t i = 0) const;

 private:
  std::unique_ptr<PolicyServer> server_;
  std::future<void> finished_;
};

class LoopbackPolicyServer : public PolicyServerThread {
 public:
  // `settings`' sockets, threads and hostname are set here; `commits` as
  // PolicyServer::open() takes them. Throws std::runtime_error when the
  // server cannot open.
  LoopbackPolicyServer(PolicySettings settings, const Greylister& greylister, const Clock& clock,
                       unsigned threads = 1, DeferredCommits* commits = nullptr);
};

}  // namespace greylist::testing
