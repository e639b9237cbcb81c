#include "policy/policy_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "greylist/log_line.h"
#include "greylist/spf_pooling.h"
#include "policy/held_replies.h"
#include "policy/policy_dns_step.h"
#include "policy/policy_request_parser.h"
#include "policy/policy_responder.h"
#include "spf/spf_memo.h"
#include "util/log.h"
#include "util/unix_socket_file.h"

namespace greylist {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;

constexpr std::size_t kReadChunk = 8192;  // per connection, in its coroutine frame
// Pause after a failed accept (EMFILE...), so a full descriptor table does
// not become a busy loop.
constexpr auto kAcceptRetryPause = std::chrono::milliseconds(100);

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.to_string();
  return address.is_v6() ? "[" + host + "]:" + std::to_string(endpoint.port())
                         : host + ":" + std::to_string(endpoint.port());
}

std::string peer_text(const tcp::socket& socket) {
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : endpoint_text(endpoint);
}

// The addresses to listen on for a host name (each once), or the literal
// address itself; `by_name` tells which.
Result<std::vector<tcp::endpoint>> listen_endpoints(asio::io_context& io, const SocketSpec& spec,
                                                    bool& by_name) {
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const auto literal = asio::ip::make_address(spec.host, ec);
  by_name = static_cast<bool>(ec);
  if (!by_name) {
    endpoints.emplace_back(literal, spec.port);
    return endpoints;
  }
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(spec.host, std::to_string(spec.port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  const std::string name = spec.to_string();
  if (ec) return Status::IoError("cannot resolve " + name + ": " + ec.message());
  for (const auto& entry : results) {
    if (std::find(endpoints.begin(), endpoints.end(), entry.endpoint()) == endpoints.end()) {
      endpoints.push_back(entry.endpoint());
    }
  }
  if (endpoints.empty()) return Status::IoError("cannot resolve " + name + ": no address");
  return endpoints;
}

// Opens, binds and listens; on failure `ec` is set and the step that failed
// is returned ("open", "bind"...), for the message.
const char* listen_on(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, int backlog,
                      error_code& ec) {
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return "open";
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return "set SO_REUSEADDR on";
  if (endpoint.address().is_v6()) {
    acceptor.set_option(asio::ip::v6_only(true), ec);
    if (ec) return "set IPV6_V6ONLY";
  }
  acceptor.bind(endpoint, ec);
  if (ec) return "bind";
  acceptor.listen(backlog > 0 ? backlog : asio::socket_base::max_listen_connections, ec);
  return "listen";
}

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // Closes the connection once its current request is answered (now, if
  // it is waiting for input). Thread-safe.
  virtual void shutdown() = 0;
};

class PolicyServerImpl;

template <typename Socket>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Socket>> {
 public:
  Connection(PolicyServerImpl& server, Socket socket, std::string peer, std::uint64_t id)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(std::move(peer)),
        id_(id) {}

  void start();
  void shutdown() override {
    asio::post(socket_.get_executor(), [self = this->shared_from_this()] {
      self->stopping_ = true;
      if (!self->busy_) self->close();
    });
  }

 private:
  awaitable<void> serve();
  // The answer to a request waiting for DNS lists, once they answered.
  awaitable<PolicyAnswer> finish_after_dns(PolicyResponder& responder, PolicyLookup& lookup);
  awaitable<void> watchdog();
  void touch();
  // Runs decide(), which may write the store: with shared commits inside a
  // Scope, so its writes are deferred and its reply is held until release().
  template <typename Decide>
  auto deferring(Decide&& decide) -> decltype(decide()) {
    if (held_ == nullptr) return decide();
    DeferredCommits::Scope scope(held_->commits());
    auto result = decide();
    const DeferredCommits::Ticket ticket = scope.ticket();
    ticket_ = ticket_ ? DeferredCommits::Ticket::both(*ticket_, ticket) : ticket;
    return result;
  }
  // Whether the replies in `out` must wait for a flush (no coroutine, no
  // allocation when they need not: the usual case of a read-only decision).
  bool held() {
    if (ticket_ && held_->commits().covered(*ticket_)) ticket_.reset();
    return ticket_.has_value();
  }
  // Waits until the held replies in `out` may leave; replaces them by
  // --on-error's when their writes could not be made durable.
  awaitable<void> release(std::string& out, const PolicyResponder& responder);
  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  PolicyServerImpl& server_;
  Socket socket_;
  asio::steady_timer timer_;
  std::string peer_;
  std::uint64_t id_;
  std::chrono::steady_clock::time_point deadline_{};
  HeldReplies* held_ = nullptr;  // this loop's, with shared commits
  // Touched only on the connection's thread (its worker context).
  bool busy_ = false;      // answering (deciding, resolving or writing)
  bool resolving_ = false;  // waiting for DNS lists or SPF (bounded by their deadlines)
  bool stopping_ = false;  // the server is shutting down
  bool closed_ = false;
  std::optional<DeferredCommits::Ticket> ticket_;  // the held replies'
  SpfMemo spf_memo_;  // the last SPF verdict, for the next recipients
};

class PolicyServerImpl final : public PolicyServer {
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
    tcp_acceptors_.clear();
    unix_acceptors_.clear();
    remove_socket_files();
    drain_timer_.reset();
    work_.reset();
    worker_guards_.clear();
    held_.clear();     // waits for flushes posting to the workers
    workers_.clear();  // destroys the connections' pending coroutine frames
    server_strand_.reset();
    io_.reset();
  }

  Status bind_all();
  void start_accepting();

  void run() override;
  void stop() override;
  std::vector<std::string> bound_addresses() const override { return bound_; }
  void set_replies(const PolicySettings& settings) override {
    auto replies = std::make_shared<PolicySettings>(settings);
    replies->common.dns = settings_.common.dns;  // the resolver is open()'s
    replies->common.spf = settings_.common.spf;  // the SPF checker too
    std::atomic_store(&replies_, std::shared_ptr<const PolicySettings>(std::move(replies)));
  }

  // For connections.
  const PolicySettings& settings() const { return settings_; }
  std::shared_ptr<const PolicySettings> replies() const { return std::atomic_load(&replies_); }
  const PolicyLimits& limits() const { return limits_; }
  const Greylister& greylister() const { return greylister_; }
  const Clock& clock() const { return clock_; }
  void emit(const std::vector<PolicyLogRecord>& records);
  void peer_warning(const std::string& message) { peer_log_.log(Severity::kWarning, message); }
  bool close_after_reply() const { return settings_.close_after_reply; }
  // A connection that completed no request within the idle timeout: silent,
  // or too slow (a byte at a time), or simply idle between requests.
  void idle_timeout(const std::string& peer) {
    idle_log_.log(Severity::kInfo, "policy client " + peer + ": no complete request for " +
                                       std::to_string(settings_.idle_timeout.count()) +
                                       " s (--policy-idle-timeout), closing the connection");
  }
  void connection_finished(std::uint64_t id);
  // The held replies of the worker loop `loop`; nullptr without shared commits.
  HeldReplies* held_replies(const asio::execution_context& loop) const;
  void undurable(const Status& status, std::size_t replies) {
    store_log_.log(Severity::kError, "greylist store failed, answering by --on-error: " +
                                         std::to_string(replies) + " policy replies whose writes "
                                         "did not reach the log: " + status.message());
  }

 private:
  Status bind_inet(const SocketSpec& spec);
  Status bind_unix(const SocketSpec& spec);
  template <typename Acceptor>
  awaitable<void> accept_loop(Acceptor& acceptor, std::string name);
  template <typename Socket>
  void admit(Socket socket, std::string peer);
  void begin_shutdown();
  void remove_socket_files();

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
  std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors_;
  std::vector<std::unique_ptr<unix_stream::acceptor>> unix_acceptors_;
  // The unix socket files we created, removed at destruction if they are
  // still ours (same inode): a newer instance may have replaced them.
  std::vector<UnixSocketFile> socket_files_;
  std::vector<std::string> bound_;

  std::mutex connections_mutex_;
  std::map<std::uint64_t, std::weak_ptr<ConnectionBase>> connections_;
  std::uint64_t next_id_ = 0;  // server strand only

  std::atomic<bool> stop_requested_{false};
  bool shutting_down_ = false;  // server strand only
};

// --- Connection ------------------------------------------------------------

template <typename Socket>
void Connection<Socket>::start() {
  touch();
  auto self = this->shared_from_this();
  auto report = [self](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log_error("policy connection " + self->peer_ + ": " + printable(e.what()));
    } catch (...) {
      log_error("policy connection " + self->peer_ + ": unknown exception");
    }
  };
  asio::co_spawn(socket_.get_executor(), serve(), report);
  asio::co_spawn(socket_.get_executor(), watchdog(), report);
}

template <typename Socket>
void Connection<Socket>::touch() {
  deadline_ = std::chrono::steady_clock::now() + server_.settings().idle_timeout;
}

template <typename Socket>
awaitable<void> Connection<Socket>::serve() {
  auto self = this->shared_from_this();  // alive as long as this frame
  held_ = server_.held_replies(asio::query(socket_.get_executor(), asio::execution::context));
  PolicyRequestParser parser(server_.limits());
  PolicyResponder responder(server_.settings(), server_.greylister(), server_.clock());
  std::array<char, kReadChunk> buffer;
  std::string out;
  try {
    while (!closed_ && !stopping_) {
      error_code ec;
      const std::size_t n =
          co_await socket_.async_read_some(asio::buffer(buffer), asio::redirect_error(use_awaitable, ec));
      if (ec || closed_) {
        if (ec == asio::error::eof && parser.in_request()) {
          log_debug("policy client " + peer_ + " closed the connection inside a request");
        }
        break;
      }
      busy_ = true;
      std::string_view input(buffer.data(), n);
      bool violated = false;
      out.clear();
      for (;;) {
        const auto outcome = parser.consume(input);
        if (outcome == PolicyRequestParser::Outcome::kNeedMore) break;
        if (outcome == PolicyRequestParser::Outcome::kViolation) {
          server_.peer_warning("policy client " + peer_ + ": " + parser.violation() +
                               "; closing the connection");
          violated = true;
          break;
        }
        responder.use_settings(server_.replies());
        PolicyStep step = deferring([&] { return responder.begin(parser.take_request()); });
        if (step.lookup) step.answer = co_await finish_after_dns(responder, *step.lookup);
        server_.emit(step.answer.log);
        out += step.answer.reply;
        touch();
      }
      if (!out.empty()) {
        if (held()) co_await release(out, responder);
        co_await asio::async_write(socket_, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      busy_ = false;
      if (violated) break;
      // --exim: the connection ends after a reply (the rest of what arrived
      // with it is dropped, as postgrey drops it).
      if (!out.empty() && server_.close_after_reply()) break;
    }
  } catch (const std::exception& e) {
    log_error("policy connection " + peer_ + ": " + printable(e.what()));
  } catch (...) {
    log_error("policy connection " + peer_ + ": unknown exception");
  }
  // Always reached, so the connection never keeps its max_connections slot.
  close();
  server_.connection_finished(id_);
}

template <typename Socket>
awaitable<PolicyAnswer> Connection<Socket>::finish_after_dns(PolicyResponder& responder,
                                                             PolicyLookup& lookup) {
  resolving_ = true;
  const FrontEndSettings& common = server_.settings().common;
  if (lookup.spf) {
    // Before the DNS lists; requests of one connection stay in order, since
    // the connection reads no further request until this one is answered.
    // A message's next recipients reuse the verdict (a timeout included).
    SpfVerdict verdict;
    if (const SpfVerdict* known = spf_memo_.find(*lookup.spf, SpfMemo::Clock::now())) {
      verdict = *known;
    } else {
      verdict = co_await check_spf(*common.spf.checker, *lookup.spf);
      spf_memo_.remember(*lookup.spf, verdict, SpfMemo::Clock::now());
    }
    apply_spf_verdict(common.spf, *lookup.spf, verdict, lookup.core);
  }
  DnsAnswers answers;
  if (!lookup.names.empty()) answers = co_await resolve_dns_lists(common.dns, std::move(lookup.names));
  resolving_ = false;
  co_return deferring([&] { return responder.finish(lookup, answers); });
}

template <typename Socket>
awaitable<void> Connection<Socket>::release(std::string& out, const PolicyResponder& responder) {
  const DeferredCommits::Ticket ticket = *ticket_;
  ticket_.reset();
  const Status durable = co_await held_->wait(ticket);
  if (durable.ok()) co_return;
  // One "action=...\n\n" per reply, with no other line break (PolicyAnswer).
  std::size_t replies = 0;
  for (std::size_t at = out.find("\n\n"); at != std::string::npos; at = out.find("\n\n", at + 2)) {
    ++replies;
  }
  server_.undurable(durable, replies);
  out.clear();
  for (std::size_t i = 0; i < replies; ++i) out += responder.on_error_reply();
}

template <typename Socket>
awaitable<void> Connection<Socket>::watchdog() {
  auto self = this->shared_from_this();
  while (!closed_) {
    timer_.expires_at(deadline_);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(use_awaitable, ec));
    if (closed_) break;
    if (std::chrono::steady_clock::now() >= deadline_ && resolving_) {
      touch();  // not idle: the lookup ends by its own deadline
    } else if (std::chrono::steady_clock::now() >= deadline_) {
      server_.idle_timeout(peer_);
      close();
      break;
    }
  }
}

// --- PolicyServerImpl --------------------------------------------------------

Status PolicyServerImpl::bind_all() {
  for (const SocketSpec& spec : settings_.sockets) {
    Status status;
    try {
      switch (spec.kind) {
        case SocketSpec::Kind::kNone: continue;
        case SocketSpec::Kind::kInet: status = bind_inet(spec); break;
        case SocketSpec::Kind::kUnix: status = bind_unix(spec); break;
      }
    } catch (const std::exception& e) {
      status = Status::IoError("cannot listen on " + spec.to_string() + ": " + e.what());
    }
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status PolicyServerImpl::bind_inet(const SocketSpec& spec) {
  const std::string name = spec.to_string();
  bool by_name = false;
  auto endpoints = listen_endpoints(*io_, spec, by_name);
  if (!endpoints.ok()) return endpoints.status();

  std::string skipped;
  std::size_t bound_here = 0;
  for (const auto& endpoint : endpoints.value()) {
    auto acceptor = std::make_unique<tcp::acceptor>(*server_strand_);
    error_code ec;
    const char* step = listen_on(*acceptor, endpoint, settings_.listen_backlog, ec);
    if (ec) {
      const std::string reason = "cannot " + std::string(step) + " " + name + " (" +
                                 endpoint_text(endpoint) + "): " + ec.message();
      // A host name may resolve to an address family this host lacks
      // ("localhost" -> ::1 without IPv6); any other failure is fatal.
      const bool family_missing = ec == asio::error::address_family_not_supported ||
                                  ec == boost::system::errc::address_not_available;
      if (!by_name || !family_missing) return Status::IoError(reason);
      skipped += skipped.empty() ? reason : "; " + reason;
      continue;
    }
    bound_.push_back("inet:" + endpoint_text(acceptor->local_endpoint()));
    tcp_acceptors_.push_back(std::move(acceptor));
    ++bound_here;
  }
  if (bound_here == 0) return Status::IoError(skipped);
  if (!skipped.empty()) log_warning(skipped);
  return Status::Ok();
}

Status PolicyServerImpl::bind_unix(const SocketSpec& spec) {
  const std::string name = spec.to_string();
  if (Status cleared = UnixSocketFile::clear_stale(spec.path, name); !cleared.ok()) return cleared;

  auto acceptor = std::make_unique<unix_stream::acceptor>(*server_strand_);
  error_code ec;
  const char* step = "open";
  acceptor->open(unix_stream(), ec);
  if (!ec) {
    step = "bind";
    acceptor->bind(unix_stream::endpoint(spec.path), ec);
  }
  if (!ec && chmod(spec.path.c_str(), static_cast<mode_t>(settings_.socket_mode)) != 0) {
    return Status::IoError("cannot chmod " + name + ": " + std::strerror(errno));
  }
  if (!ec) {
    step = "listen";
    acceptor->listen(settings_.listen_backlog > 0 ? settings_.listen_backlog
                                                  : asio::socket_base::max_listen_connections,
                     ec);
  }
  if (ec) return Status::IoError("cannot " + std::string(step) + " " + name + ": " + ec.message());
  if (auto file = UnixSocketFile::created(spec.path)) socket_files_.push_back(std::move(*file));
  bound_.push_back(name);
  unix_acceptors_.push_back(std::move(acceptor));
  return Status::Ok();
}

void PolicyServerImpl::start_accepting() {
  auto report = [](std::exception_ptr error) {
    if (error) log_error("policy listener stopped by an unexpected exception");
  };
  std::size_t tcp_index = 0;
  std::size_t unix_index = 0;
  for (const std::string& name : bound_) {
    if (name.rfind("unix:", 0) == 0) {
      asio::co_spawn(*server_strand_, accept_loop(*unix_acceptors_[unix_index++], name), report);
    } else {
      asio::co_spawn(*server_strand_, accept_loop(*tcp_acceptors_[tcp_index++], name), report);
    }
  }
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
  auto connection = std::make_shared<Connection<Socket>>(*this, std::move(socket), std::move(peer), id);
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

void PolicyServerImpl::remove_socket_files() {
  for (const UnixSocketFile& file : socket_files_) {
    if (Status removed = file.remove_if_ours(); !removed.ok()) {
      log_info("policy server: " + removed.message() + " (the next start replaces it)");
    }
  }
  socket_files_.clear();
}

void PolicyServerImpl::begin_shutdown() {
  shutting_down_ = true;
  error_code ignored;
  for (auto& acceptor : tcp_acceptors_) acceptor->close(ignored);
  for (auto& acceptor : unix_acceptors_) acceptor->close(ignored);
  work_.reset();
  for (auto& guard : worker_guards_) guard.reset();

  std::vector<std::shared_ptr<ConnectionBase>> open;
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
