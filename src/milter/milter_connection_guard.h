// MilterConnectionGuard: the idle and count bounds libmilter lacks.
//
// Debian's libmilter keeps every accepted connection until its peer closes
// it: smfi_settimeout() is not applied while a session waits for its next
// command, and there is no connection limit. A peer that connects and
// never speaks holds a descriptor for ever. The guard finds the milter's
// accepted TCP connections in the process's descriptor table every
// `interval`, reads from the kernel how long each has received nothing
// (TCP_INFO), and shuts down (shutdown(2), which libmilter then sees as the
// peer going away and cleans up) those silent for `idle_timeout` or more,
// then, beyond `max_connections`, the most silent of the rest. One log line
// per sweep that cut anything.
//
// Postfix keeps one milter connection per SMTP session; it is silent while
// the SMTP client is (up to smtpd_timeout, 300 s, per command) and during
// the whole DATA transfer (the milter asks for no headers or body), so the
// idle bound must be far above both: the default is one hour.
//
// TCP only: a unix-socket milter is reachable only by what --socketmode
// allows, and the kernel keeps no receive time for it.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace greylist {

struct MilterConnectionLimits {
  std::chrono::seconds idle_timeout{3600};  // --milter-idle-timeout
  std::size_t max_connections = 1000;       // --milter-max-connections
  std::chrono::milliseconds interval{2000};  // how often the guard looks
};

// One accepted milter connection as the guard sees it.
struct MilterPeer {
  int fd = -1;                         // a dup(), owned by whoever holds the peer
  std::chrono::milliseconds silent{0};  // since the kernel last received data on it
};

// Which of `peers` to cut off (indexes): every one silent for at least
// limits.idle_timeout; then, while more than limits.max_connections would
// remain, the most silent of the others. Pure: the policy, tested alone.
std::vector<std::size_t> peers_to_cut(const std::vector<MilterPeer>& peers,
                                      const MilterConnectionLimits& limits);

// The accepted TCP connections of this process whose local port is
// `port` (not the listener itself), each as a dup() of its descriptor, so
// a descriptor closed and reused meanwhile is never mistaken for it.
// The caller closes the fds.
std::vector<MilterPeer> find_milter_peers(std::uint16_t port);

class MilterConnectionGuard {
 public:
  // Starts the guard's thread for the TCP milter listener on `port`.
  MilterConnectionGuard(std::uint16_t port, MilterConnectionLimits limits);
  // Stops the thread (within one interval's wake-up, at once in practice).
  ~MilterConnectionGuard();
  MilterConnectionGuard(const MilterConnectionGuard&) = delete;
  MilterConnectionGuard& operator=(const MilterConnectionGuard&) = delete;

  // One sweep now (the thread calls it every interval); returns how many
  // connections it cut off. Thread-safe.
  std::size_t sweep();

 private:
  class CutLog;
  void run();

  const std::uint16_t port_;
  const MilterConnectionLimits limits_;
  std::mutex sweep_mutex_;  // one sweep at a time; guards the logs
  std::unique_ptr<CutLog> idle_log_;
  std::unique_ptr<CutLog> excess_log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace greylist
