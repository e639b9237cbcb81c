#include "policy/policy_listeners.h"

#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/ip/v6_only.hpp>
#include <cerrno>
#include <cstring>
#include <exception>

#include "util/log.h"

namespace greylist {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;

// The addresses to listen on for a host name (each once), or the literal
// address itself; `by_name` tells which.
Result<std::vector<tcp::endpoint>> listen_endpoints(const PolicyListeners::Executor& executor,
                                                    const SocketSpec& spec, bool& by_name) {
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  const auto literal = asio::ip::make_address(spec.host, ec);
  by_name = static_cast<bool>(ec);
  if (!by_name) {
    endpoints.emplace_back(literal, spec.port);
    return endpoints;
  }
  tcp::resolver resolver(executor);
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

}  // namespace

std::string policy_endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.to_string();
  return address.is_v6() ? "[" + host + "]:" + std::to_string(endpoint.port())
                         : host + ":" + std::to_string(endpoint.port());
}

Status PolicyListeners::bind_all(const PolicySettings& settings, const Executor& executor) {
  for (const SocketSpec& spec : settings.sockets) {
    Status status;
    try {
      switch (spec.kind) {
        case SocketSpec::Kind::kNone: continue;
        case SocketSpec::Kind::kInet: status = bind_inet(spec, executor, settings.listen_backlog); break;
        case SocketSpec::Kind::kUnix:
          status = bind_unix(spec, executor, settings.listen_backlog, settings.socket_mode);
          break;
      }
    } catch (const std::exception& e) {
      status = Status::IoError("cannot listen on " + spec.to_string() + ": " + e.what());
    }
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status PolicyListeners::bind_inet(const SocketSpec& spec, const Executor& executor, int backlog) {
  const std::string name = spec.to_string();
  bool by_name = false;
  auto endpoints = listen_endpoints(executor, spec, by_name);
  if (!endpoints.ok()) return endpoints.status();

  std::string skipped;
  std::size_t bound_here = 0;
  for (const auto& endpoint : endpoints.value()) {
    auto acceptor = std::make_unique<TcpAcceptor>(executor);
    error_code ec;
    const char* step = listen_on(*acceptor, endpoint, backlog, ec);
    if (ec) {
      const std::string reason = "cannot " + std::string(step) + " " + name + " (" +
                                 policy_endpoint_text(endpoint) + "): " + ec.message();
      // A host name may resolve to an address family this host lacks
      // ("localhost" -> ::1 without IPv6); any other failure is fatal.
      const bool family_missing = ec == asio::error::address_family_not_supported ||
                                  ec == boost::system::errc::address_not_available;
      if (!by_name || !family_missing) return Status::IoError(reason);
      skipped += skipped.empty() ? reason : "; " + reason;
      continue;
    }
    bound_.push_back("inet:" + policy_endpoint_text(acceptor->local_endpoint()));
    tcp_acceptors_.push_back(std::move(acceptor));
    ++bound_here;
  }
  if (bound_here == 0) return Status::IoError(skipped);
  if (!skipped.empty()) log_warning(skipped);
  return Status::Ok();
}

Status PolicyListeners::bind_unix(const SocketSpec& spec, const Executor& executor, int backlog,
                                  unsigned socket_mode) {
  const std::string name = spec.to_string();
  if (Status cleared = UnixSocketFile::clear_stale(spec.path, name); !cleared.ok()) return cleared;

  auto acceptor = std::make_unique<UnixAcceptor>(executor);
  error_code ec;
  const char* step = "open";
  acceptor->open(unix_stream(), ec);
  if (!ec) {
    step = "bind";
    acceptor->bind(unix_stream::endpoint(spec.path), ec);
  }
  if (!ec && chmod(spec.path.c_str(), static_cast<mode_t>(socket_mode)) != 0) {
    return Status::IoError("cannot chmod " + name + ": " + std::strerror(errno));
  }
  if (!ec) {
    step = "listen";
    acceptor->listen(backlog > 0 ? backlog : asio::socket_base::max_listen_connections, ec);
  }
  if (ec) return Status::IoError("cannot " + std::string(step) + " " + name + ": " + ec.message());
  if (auto file = UnixSocketFile::created(spec.path)) socket_files_.push_back(std::move(*file));
  bound_.push_back(name);
  unix_acceptors_.push_back(std::move(acceptor));
  return Status::Ok();
}

void PolicyListeners::close() {
  error_code ignored;
  for (auto& acceptor : tcp_acceptors_) acceptor->close(ignored);
  for (auto& acceptor : unix_acceptors_) acceptor->close(ignored);
}

void PolicyListeners::release() {
  tcp_acceptors_.clear();
  unix_acceptors_.clear();
  for (const UnixSocketFile& file : socket_files_) {
    if (Status removed = file.remove_if_ours(); !removed.ok()) {
      log_warning("policy server: " + removed.message());
    }
  }
  socket_files_.clear();
}

}  // namespace greylist
