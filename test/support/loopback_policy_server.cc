#include "support/loopback_policy_server.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace greylist::testing {

LoopbackPolicyServer::LoopbackPolicyServer(PolicySettings settings, const Greylister& greylister,
                                           const Clock& clock) {
  SocketSpec spec;
  spec.kind = SocketSpec::Kind::kInet;
  spec.host = "127.0.0.1";
  spec.port = 0;
  settings.sockets = {spec};
  settings.threads = 1;
  settings.common.hostname = "test.host";
  auto opened = PolicyServer::open(std::move(settings), greylister, clock);
  if (!opened.ok()) throw std::runtime_error("policy server: " + opened.status().message());
  server_ = std::move(opened).value();
  finished_ = std::async(std::launch::async, [this] { server_->run(); });
}

void LoopbackPolicyServer::stop() {
  if (!finished_.valid()) return;
  server_->stop();
  if (finished_.wait_for(std::chrono::seconds(10)) != std::future_status::ready) std::abort();
  finished_.get();
}

int LoopbackPolicyServer::port() const {
  const std::string address = server_->bound_addresses().at(0);
  return std::stoi(address.substr(address.rfind(':') + 1));
}

}  // namespace greylist::testing
