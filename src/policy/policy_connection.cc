#include "policy/policy_connection.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>
#include <optional>
#include <string_view>
#include <utility>

#include "greylist/deferred_commits.h"
#include "greylist/log_line.h"
#include "greylist/spf_pooling.h"
#include "policy/policy_dns_step.h"
#include "spf/spf_memo.h"
#include "util/log.h"

namespace greylist {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

constexpr std::size_t kReadChunk = 8192;  // per connection, in its coroutine frame

template <typename Socket>
class Connection final : public PolicyConnection,
                         public std::enable_shared_from_this<Connection<Socket>> {
 public:
  Connection(PolicyConnectionHost& server, Socket socket, std::string peer, std::uint64_t id)
      : server_(server),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        peer_(std::move(peer)),
        id_(id) {}

  void start() override;
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

  PolicyConnectionHost& server_;
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
      if (!out.empty() && server_.settings().close_after_reply) break;
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

}  // namespace

std::shared_ptr<PolicyConnection> make_policy_connection(PolicyConnectionHost& host,
                                                         asio::ip::tcp::socket socket,
                                                         std::string peer, std::uint64_t id) {
  return std::make_shared<Connection<asio::ip::tcp::socket>>(host, std::move(socket),
                                                             std::move(peer), id);
}

std::shared_ptr<PolicyConnection> make_policy_connection(
    PolicyConnectionHost& host, asio::local::stream_protocol::socket socket, std::string peer,
    std::uint64_t id) {
  return std::make_shared<Connection<asio::local::stream_protocol::socket>>(
      host, std::move(socket), std::move(peer), id);
}

}  // namespace greylist
