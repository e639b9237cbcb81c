// LoopbackPolicyServer: a PolicyServer for a test on 127.0.0.1 (a free
// port) with one thread, so a request that blocked would stall every
// connection; run on a thread of its own from the constructor until stop()
// or the destructor (bounded wait, 10 s, then abort: a hang is a failure).
#pragma once

#include <future>
#include <memory>

#include "policy/policy_server.h"

namespace greylist::testing {

class LoopbackPolicyServer {
 public:
  // `settings`' sockets, threads and hostname ("test.host") are set here.
  // Throws std::runtime_error when the server cannot open.
  LoopbackPolicyServer(PolicySettings settings, const Greylister& greylister, const Clock& clock);
  ~LoopbackPolicyServer() { stop(); }
  LoopbackPolicyServer(const LoopbackPolicyServer&) = delete;
  LoopbackPolicyServer& operator=(const LoopbackPolicyServer&) = delete;

  void stop();
  int port() const;

 private:
  std::unique_ptr<PolicyServer> server_;
  std::future<void> finished_;
};

}  // namespace greylist::testing
