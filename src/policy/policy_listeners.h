// PolicyListeners: the policy front end's listening sockets (--policy),
// from bind to close.
//
// bind_all() opens, binds and listens on every socket of the settings, in
// their order: TCP on each address a host name resolves to (v6-only for
// IPv6; an address family the host lacks is skipped with a warning when the
// name gave others), unix sockets with --socketmode, a stale socket file
// replaced and one a running process serves refused
// (util/unix_socket_file.h). release() closes the acceptors and removes the
// unix socket files still ours, logging a failure as a warning with its
// reason (the service user may not write the directory). Not thread-safe:
// used on the server strand, bind_all() before any loop runs.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "greylist/status.h"
#include "policy/policy_server.h"
#include "util/socket_spec.h"
#include "util/unix_socket_file.h"

namespace greylist {

// "192.0.2.1:25", "[2001:db8::1]:25".
std::string policy_endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

class PolicyListeners {
 public:
  using Executor = boost::asio::strand<boost::asio::io_context::executor_type>;
  using TcpAcceptor = boost::asio::ip::tcp::acceptor;
  using UnixAcceptor = boost::asio::local::stream_protocol::acceptor;

  PolicyListeners() = default;
  ~PolicyListeners() { release(); }
  PolicyListeners(const PolicyListeners&) = delete;
  PolicyListeners& operator=(const PolicyListeners&) = delete;

  // Listens on every socket of settings.sockets (kNone skipped), the
  // acceptors on `executor`. IoError naming the socket, the step that
  // failed ("bind"...) and the reason; the sockets bound before it stay
  // bound until release().
  Status bind_all(const PolicySettings& settings, const Executor& executor);

  // PolicyServer::bound_addresses().
  const std::vector<std::string>& bound() const { return bound_; }

  // Calls accept(acceptor, name) for each listener, in the order bound;
  // `acceptor` is a TcpAcceptor& or an UnixAcceptor&.
  template <typename Accept>
  void for_each(Accept&& accept) {
    std::size_t tcp_index = 0;
    std::size_t unix_index = 0;
    for (const std::string& name : bound_) {
      if (name.rfind("unix:", 0) == 0) {
        accept(*unix_acceptors_[unix_index++], name);
      } else {
        accept(*tcp_acceptors_[tcp_index++], name);
      }
    }
  }

  // Stops listening: accept loops end (operation_aborted).
  void close();
  // Destroys the acceptors (before their executor's io_context goes) and
  // removes the unix socket files still ours. Idempotent.
  void release();

 private:
  Status bind_inet(const SocketSpec& spec, const Executor& executor, int backlog);
  Status bind_unix(const SocketSpec& spec, const Executor& executor, int backlog,
                   unsigned socket_mode);

  std::vector<std::unique_ptr<TcpAcceptor>> tcp_acceptors_;
  std::vector<std::unique_ptr<UnixAcceptor>> unix_acceptors_;
  // The unix socket files we created, removed by release() if they are
  // still ours (same inode): a newer instance may have replaced them.
  std::vector<UnixSocketFile> socket_files_;
  std::vector<std::string> bound_;
};

}  // namespace greylist
