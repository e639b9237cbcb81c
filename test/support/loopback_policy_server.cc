#include "support/loopback_policy_server.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace greylist::testing {
namespace {

constexpr std::chrono::seconds kStopLimit{10};

std::unique_ptr<PolicyServer> open_loopback(PolicySettings settings, const Greylister& greylister,
                                            const Clock& clock, unsigned threads,
                                            DeferredCommits* commits) {
  SocketSpec spec;
  spec.kind = SocketSpec::Kind::kInet;
  spec.host = "127.0.0.1";
  spec.port = 0;
  settings.sockets = {spec};
  settings.threads = threads;
  settings.common.hostname = "test.host";
  auto opened = PolicyServer::open(std::move(settings), greylister, clock, commits);
  if (!opened.ok()) throw std::runtime_error("policy server: " + opened.status().message());
  return std::move(opened).value();
}

}  // namespace

PolicyServerThread::PolicyServerThread(std::unique_ptr<PolicyServer> server)
    : server_(std::move(server)) {
  finished_ = std::async(std::launch::async, [this] { server_->run(); });
}

void PolicyServerThread::stop() {
  if (!finished_.valid()) return;
  server_->stop();
  if (finished_.wait_for(kStopLimit) != std::future_status::ready) {
    std::fprintf(stderr, "policy server: run() did not return within %lld s\n",
                 static_cast<long long>(kStopLimit.count()));
    std::abort();
  }
  finished_.get();
}

std::optional<std::chrono::milliseconds> PolicyServerThread::stop_and_time(
    std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  server_->stop();
  if (finished_.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

int PolicyServerThread::port(std::size_t i) const {
  const std::string address = server_->bound_addresses().at(i);
  return std::stoi(address.substr(address.rfind(':') + 1));
}

LoopbackPolicyServer::LoopbackPolicyServer(PolicySettings settings, const Greylister& greylister,
                                           const Clock& clock, unsigned threads,
                                           DeferredCommits* commits)
    : PolicyServerThread(open_loopback(std::move(settings), greylister, clock, threads, commits)) {}

}  // namespace greylist::testing
