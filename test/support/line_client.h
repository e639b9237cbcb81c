// LineClient: a blocking TCP or unix-socket client for protocol tests, with
// every read bounded by a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace greylist::testing {

class LineClient {
 public:
  // Connects to 127.0.0.1:port (or [::1] with ipv6). Retries until
  // `patience` runs out, for a server that is still starting; ok() tells.
  explicit LineClient(int port, std::chrono::milliseconds patience = std::chrono::seconds(5),
                      bool ipv6 = false);
  explicit LineClient(const std::string& unix_path,
                      std::chrono::milliseconds patience = std::chrono::seconds(5));
  ~LineClient();
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads until `terminator` has arrived; returns everything up to and
  // including it, nullopt on timeout or if the peer closed first.
  std::optional<std::string> read_until(const std::string& terminator,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the peer closes the connection within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout);
  // Sends one policy request (attributes joined by '\n' plus the empty
  // line) and returns its reply ("action=...\n\n").
  std::optional<std::string> policy(const std::string& attributes);

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace greylist::testing
