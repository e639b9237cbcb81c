// PolicyServer's implementation: the server loop that accepts on the
// listeners (policy_listeners.h) and deals connections out to the worker
// loops (policy_connection.h), run() and stop(), and the drain at
// shutdown.
#include "policy/policy_server.h"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "greylist/log_line.h"
#include "policy/held_replies.h"
#include "policy/policy_connection.h"
#include "policy/policy_listeners.h"
#include "policy/policy_request_parser.h"
#include "policy/policy_responder.h"
#include "util/log.h"

namespace greylist {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;

// Pause after a failed accept (EMFILE...), so a full descriptor table does
// not become a busy loop.
constexpr auto kAcceptRetryPause = std::chrono::milliseconds(100);

std::string peer_text(const tcp::socket& socket) {
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : policy_endpoint_text(endpoint);
}

class PolicyServerImpl final : public PolicyServer, public PolicyConnectionHost {
 public:
  PolicyServerImpl(PolicySettings settings, const Greylister& greylister, const Clock& clock,
                   DeferredCommits* commits)
      : settings_(std::move(settings)),
        replies_(std::make_shared<const PolicySettings>(settings_)),
        greylister_(greylister),
        clock_(clock),
        io_(std::make_unique<asio::io_context>(1)),
        server_strand_(asio::make_strand(*io_)),
        work_(asio::make_work_guard(*io_)),
        drain_timer_(std::in_place, *server_strand_) {
    const unsigned threads = settings_.threads == 0 ? 1 : settings_.threads;
    for (unsigned i = 0; i < threads; ++i) {
      // Concurrency hint 1: each context is run by exactly one thread.
      workers_.push_back(std::make_unique<asio::io_context>(1));
      worker_guards_.emplace_back(asio::make_work_guard(*workers_.back()));
      if (commits != nullptr) held_.push_back(std::make_unique<HeldReplies>(*workers_.back(), *commits));
    }
    limits_.max_line_bytes = settings_.max_line_bytes;
    limits_.max_attributes = settings_.max_attributes;
    limits_.max_request_bytes = settings_.max_request_bytes;
  }

  ~PolicyServerImpl() override {
    // Precondition: run() is not running. Pending coroutine frames hold
    // references into this object: destroy them (with the io_context)
    // while every member is still alive, acceptors first.
    // Everything holding an executor or a service must go before the
    // io_context does.
    listeners_.release();  // acceptors, then the unix socket files
    drain_timer_.reset();
    work_.reset();
    worker_guards_.clear();
    held_.clear();     // waits for flushes posting to the workers
    workers_.clear();  // destroys the connections' pending coroutine frames
    server_strand_.reset();
    io_.reset();
  }

  Status bind_all() { return listeners_.bind_all(settings_, *server_strand_); }
  void start_accepting();

  void run() override;
  void stop() override;
  std::vector<std::string> bound_addresses() const override { return listeners_.bound(); }
  void set_replies(const PolicySettings& settings) override {
    auto replies = std::make_shared<PolicySettings>(settings);
    replies->common.dns = settings_.common.dns;  // the resolver is open()'s
    replies->common.spf = settings_.common.spf;  // the SPF checker too
    std::atomic_store(&replies_, std::shared_ptr<const PolicySettings>(std::move(replies)));
  }

  // PolicyConnectionHost.
  const PolicySettings& settings() const override { return settings_; }
  std::shared_ptr<const PolicySettings> replies() const override {
    return std::atomic_load(&replies_);
  }
  const PolicyLimits& limits() const override { return limits_; }
  const Greylister& greylister() const override { return greylister_; }
  const Clock& clock() const override { return clock_; }
  void emit(const std::vector<PolicyLogRecord>& records) override;
  void peer_warning(const std::string& message) override {
    peer_log_.log(Severity::kWarning, message);
  }
  // A connection that completed no request within the idle timeout: silent,
  // or too slow (a byte at a time), or simply idle between requests.
  void idle_timeout(const std::string& peer) override {
    idle_log_.log(Severity::kInfo, "policy client " + peer + ": no complete request for " +
                                       std::to_string(settings_.idle_timeout.count()) +
                                       " s (--policy-idle-timeout), closing the connection");
  }
  void connection_finished(std::uint64_t id) override;
  HeldReplies* held_replies(const asio::execution_context& loop) const override;
  void undurable(const Status& status, std::size_t replies) override {
    store_log_.log(Severity::kError, "greylist store failed, answering by --on-error: " +
                                         std::to_string(replies) + " policy replies whose writes "
                                         "did not reach the log: " + status.message());
  }

 private:
  template <typename Acceptor>
  awaitable<void> accept_loop(Acceptor& acceptor, std::string name);
  template <typename Socket>
  void admit(Socket socket, std::string peer);
  void begin_shutdown();

  PolicySettings settings_;
  // What requests are answered with (set_replies()); accessed with
  // atomic_load/store.
  std::shared_ptr<const PolicySettings> replies_;
  PolicyLimits limits_;
  const Greylister& greylister_;
  const Clock& clock_;

  // Lines about bad peers and a failing store are rate-limited; decision
  // lines never are.
  RateLimitedLog peer_log_{std::chrono::seconds(1)};
  RateLimitedLog store_log_{kStoreFailureLogInterval};
  RateLimitedLog accept_log_{std::chrono::seconds(10)};
  RateLimitedLog idle_log_{std::chrono::seconds(1)};

  // The server context, run by the thread calling run(): acceptors, accept
  // loops, the drain timer and shutdown (on this strand). It never runs a
  // decision, so it can always accept and shut down.
  std::unique_ptr<asio::io_context> io_;
  std::optional<asio::strand<asio::io_context::executor_type>> server_strand_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  // Connections: one context per thread (settings.threads), each with its
  // own epoll loop, connections dealt out in turn. A connection lives on one
  // thread from accept to close: its reads, decisions and writes need no
  // strand, no lock and no hand-off to another thread (measured in
  // bench/analysis.md).
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> worker_guards_;
  std::vector<std::unique_ptr<HeldReplies>> held_;  // one per worker, with shared commits
  std::size_t next_worker_ = 0;  // server strand only
  std::optional<asio::steady_timer> drain_timer_;
  PolicyListeners listeners_;  // released by the destructor, before io_

  std::mutex connections_mutex_;
  std::map<std::uint64_t, std::weak_ptr<PolicyConnection>> connections_;
  std::uint64_t next_id_ = 0;  // server strand only

  std::atomic<bool> stop_requested_{false};
  bool shutting_down_ = false;  // server strand only
};

void PolicyServerImpl::start_accepting() {
  auto report = [](std::exception_ptr error) {
    if (error) log_error("policy listener stopped by an unexpected exception");
  };
  listeners_.for_each([&](auto& acceptor, const std::string& name) {
    asio::co_spawn(*server_strand_, accept_loop(acceptor, name), report);
  });
}

template <typename Acceptor>
awaitable<void> PolicyServerImpl::accept_loop(Acceptor& acceptor, std::string name) {
  using Socket = typename Acceptor::protocol_type::socket;
  asio::steady_timer pause(*server_strand_);
  while (acceptor.is_open()) {
    // The accepted socket belongs to the next worker context: its reader
    // and idle timer run on that context's single thread.
    Socket socket(*workers_[next_worker_++ % workers_.size()]);
    error_code ec;
    co_await acceptor.async_accept(socket, asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      accept_log_.log(Severity::kWarning, "policy socket " + name + ": accept failed: " + ec.message());
      pause.expires_after(kAcceptRetryPause);
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    std::string peer;
    if constexpr (std::is_same_v<Socket, tcp::socket>) {
      peer = peer_text(socket);
    } else {
      peer = name;
    }
    admit(std::move(socket), std::move(peer));
  }
}

template <typename Socket>
void PolicyServerImpl::admit(Socket socket, std::string peer) {
  std::size_t open_connections = 0;
  {
    std::lock_guard lock(connections_mutex_);
    open_connections = connections_.size();
  }
  if (shutting_down_ || open_connections >= settings_.max_connections) {
    if (!shutting_down_) {
      accept_log_.log(Severity::kWarning,
                      "policy client " + peer + " refused: " + std::to_string(open_connections) +
                          " connections open (max " + std::to_string(settings_.max_connections) +
                          ")");
    }
    error_code ignored;
    socket.close(ignored);
    return;
  }
  const std::uint64_t id = ++next_id_;
  auto connection = make_policy_connection(*this, std::move(socket), std::move(peer), id);
  {
    std::lock_guard lock(connections_mutex_);
    connections_.emplace(id, connection);
  }
  connection->start();
}

HeldReplies* PolicyServerImpl::held_replies(const asio::execution_context& loop) const {
  for (std::size_t i = 0; i < held_.size(); ++i) {
    if (workers_[i].get() == &loop) return held_[i].get();
  }
  return nullptr;
}

void PolicyServerImpl::connection_finished(std::uint64_t id) {
  bool last = false;
  {
    std::lock_guard lock(connections_mutex_);
    connections_.erase(id);
    last = connections_.empty();
  }
  if (last && stop_requested_) {
    asio::post(*server_strand_, [this] {
      std::lock_guard lock(connections_mutex_);
      if (connections_.empty()) drain_timer_->cancel();
    });
  }
}

void PolicyServerImpl::emit(const std::vector<PolicyLogRecord>& records) {
  for (const auto& record : records) {
    switch (record.kind) {
      case PolicyLogRecord::Kind::kDecision:
        if (decision_lines_logged()) log(record.severity, record.message);
        break;
      case PolicyLogRecord::Kind::kPeer: peer_log_.log(record.severity, record.message); break;
      case PolicyLogRecord::Kind::kStore: store_log_.log(record.severity, record.message); break;
    }
  }
}

void PolicyServerImpl::run() {
  auto serve = [](asio::io_context& context) {
    for (;;) {
      try {
        context.run();
        return;
      } catch (const std::exception& e) {
        log_error(std::string("policy server: unexpected exception: ") + e.what());
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers_.size());
  for (auto& worker : workers_) threads.emplace_back(serve, std::ref(*worker));
  serve(*io_);
  for (auto& thread : threads) thread.join();
}

void PolicyServerImpl::stop() {
  if (stop_requested_.exchange(true)) return;
  asio::post(*server_strand_, [this] { begin_shutdown(); });
}

void PolicyServerImpl::begin_shutdown() {
  shutting_down_ = true;
  listeners_.close();
  work_.reset();
  for (auto& guard : worker_guards_) guard.reset();

  std::vector<std::shared_ptr<PolicyConnection>> open;
  {
    std::lock_guard lock(connections_mutex_);
    for (const auto& [id, weak] : connections_) {
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    }
  }
  if (open.empty()) return;
  for (const auto& connection : open) connection->shutdown();

  // In-flight requests get drain_timeout to be answered; then run() returns
  // regardless (a thread stuck in the database is waited for by join()).
  drain_timer_->expires_after(settings_.drain_timeout);
  drain_timer_->async_wait([this](const error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    std::size_t left = 0;
    {
      std::lock_guard lock(connections_mutex_);
      left = connections_.size();
    }
    if (left == 0) return;
    log_warning("policy server: " + std::to_string(left) +
                " connections still busy after the drain timeout; stopping anyway");
    for (auto& worker : workers_) worker->stop();
    io_->stop();
  });
  std::lock_guard lock(connections_mutex_);
  if (connections_.empty()) drain_timer_->cancel();
}

}  // namespace

Result<std::unique_ptr<PolicyServer>> PolicyServer::open(PolicySettings settings,
                                                         const Greylister& greylister,
                                                         const Clock& clock,
                                                         DeferredCommits* commits) {
  try {
    auto server =
        std::make_unique<PolicyServerImpl>(std::move(settings), greylister, clock, commits);
    if (Status bound = server->bind_all(); !bound.ok()) return bound;
    server->start_accepting();
    return std::unique_ptr<PolicyServer>(std::move(server));
  } catch (const std::exception& e) {
    return Status::IoError(std::string("cannot start the policy server: ") + e.what());
  }
}

}  // namespace greylist
