#include "daemon/metrics_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "util/log.h"

namespace greylist {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kHeaderLimit = 8192;
constexpr std::chrono::seconds kConnectionTimeout{10};

// One connection: read a request, answer it, until the peer closes, breaks
// HTTP, or the deadline passes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, const Metrics& metrics)
      : stream_(std::move(socket)), metrics_(metrics) {}

  void start() {
    stream_.expires_after(kConnectionTimeout);
    read();
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(0);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->answer();
                     });
  }

  void answer() {
    const auto& request = parser_->get();
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request.version());
    response->set(http::field::server, "greylist-milter");
    response->keep_alive(request.keep_alive());
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->set(http::field::content_type, "text/plain");
      response->body() = "only GET\n";
    } else if (request.target() != "/metrics") {
      response->result(http::status::not_found);
      response->set(http::field::content_type, "text/plain");
      response->body() = "see /metrics\n";
    } else {
      response->result(http::status::ok);
      response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      if (request.method() == http::verb::get) response->body() = metrics_.render();
    }
    response->prepare_payload();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                        if (!ec && response->keep_alive()) self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit};
  std::optional<http::request_parser<http::empty_body>> parser_;
  const Metrics& metrics_;
};

class BeastMetricsServer final : public MetricsServer {
 public:
  // Binds `endpoint`; throws boost::system::system_error when it cannot.
  BeastMetricsServer(const tcp::endpoint& endpoint, const Metrics& metrics)
      : acceptor_(io_), metrics_(metrics) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~BeastMetricsServer() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Connection>(std::move(socket), metrics_)->start();
      accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  const Metrics& metrics_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const SocketSpec& socket,
                                                            const Metrics& metrics) {
  if (socket.kind != SocketSpec::Kind::kInet) {
    return Status::InvalidArgument("--metrics needs an inet:HOST:PORT socket");
  }
  try {
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    const auto endpoints = resolver.resolve(socket.host, std::to_string(socket.port));
    if (endpoints.empty()) return Status::InvalidArgument("cannot resolve " + socket.host);
    auto server = std::make_unique<BeastMetricsServer>(endpoints.begin()->endpoint(), metrics);
    log_info("metrics on http://" + socket.to_string().substr(5) + "/metrics");
    return std::unique_ptr<MetricsServer>(std::move(server));
  } catch (const std::exception& e) {
    return Status::IoError("metrics socket " + socket.to_string() + ": " + e.what());
  }
}

}  // namespace greylist
