// DnsmasqServer: a private dnsmasq for a test, answering DNS on a free
// 127.0.0.1 port (UDP and TCP) from records the test gives, with nothing
// forwarded to the outside:
//   - every name of `records` answers its A record (AAAA for an IPv6
//     address) with TTL `ttl`, and its address the PTR back;
//   - `txt_records`, `mx_records`, `ptr_records` answer TXT, MX and PTR
//     (for SPF; the same TTL);
//   - a name of `wildcard_records` and every name under it answer its A
//     record (a wildcard);
//   - other names under a `local_zones` zone answer NXDOMAIN;
//   - names under a `silent_zones` zone are forwarded to a UDP socket the
//     fixture holds and never reads: they never get an answer.
// Started by the constructor (bounded wait, 5 s; throws naming the log
// when it does not come up), SIGKILLed and reaped by the destructor.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.h"
#include "support/temp_dir.h"

namespace greylist::testing {

struct DnsmasqZones {
  std::vector<std::pair<std::string, std::string>> records;  // name, IPv4 or IPv6 address
  // One TXT record per entry: name, its strings (without ',').
  std::vector<std::pair<std::string, std::vector<std::string>>> txt_records;
  std::vector<std::pair<std::string, std::string>> mx_records;   // name, exchange (preference 10)
  std::vector<std::pair<std::string, std::string>> ptr_records;  // reverse name, target
  std::vector<std::pair<std::string, std::string>> wildcard_records;  // name, IPv4 address
  std::vector<std::string> local_zones;
  std::vector<std::string> silent_zones;
  int ttl = 300;
};

class DnsmasqServer {
 public:
  explicit DnsmasqServer(const DnsmasqZones& zones);
  ~DnsmasqServer();
  DnsmasqServer(const DnsmasqServer&) = delete;
  DnsmasqServer& operator=(const DnsmasqServer&) = delete;

  int port() const { return port_; }
  // "127.0.0.1:PORT", as --dns-server takes it.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // What dnsmasq logged (every query: --log-queries).
  std::string log() const;
  // The number of queries of `type` ("A", "TXT", ...) dnsmasq logged for `name`.
  int queries_for(const std::string& name, const std::string& type = "A") const;
  // SIGSTOP / SIGCONT: a server that receives but never answers.
  void pause();
  void resume();

 private:
  int port_;
  int black_hole_fd_ = -1;
  TempDir dir_;  // removed by its destructor, after process_ (declared later) is gone
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace greylist::testing
