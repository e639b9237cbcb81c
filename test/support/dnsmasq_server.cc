#include "support/dnsmasq_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace greylist::testing {
namespace {

constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";
constexpr auto kStartPatience = std::chrono::seconds(5);

// A bound UDP socket on 127.0.0.1 that nobody reads; its port in `port`.
int black_hole(int& port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("cannot bind a UDP socket on 127.0.0.1");
  }
  port = ntohs(address.sin_port);
  return fd;
}

}  // namespace

DnsmasqServer::DnsmasqServer(const DnsmasqZones& zones)
    : port_(free_loopback_port()), dir_("dnsmasq-test") {
  if (::access(kDnsmasq, X_OK) != 0) {
    throw std::runtime_error("dnsmasq not found: apt-get install dnsmasq-base");
  }
  int hole_port = 0;
  black_hole_fd_ = black_hole(hole_port);
  std::vector<std::string> argv{kDnsmasq, "--keep-in-foreground", "--conf-file=/dev/null",
                                "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                                "--listen-address=127.0.0.1", "--port=" + std::to_string(port_),
                                "--pid-file=", "--user=root", "--log-queries", "--log-facility=-",
                                "--local-ttl=" + std::to_string(zones.ttl), "--neg-ttl=" + std::to_string(zones.ttl)};
  for (const auto& zone : zones.local_zones) argv.push_back("--local=/" + zone + "/");
  for (const auto& [name, address] : zones.records) argv.push_back("--host-record=" + name + "," + address);
  for (const auto& [name, strings] : zones.txt_records) {
    std::string option = "--txt-record=" + name;
    for (const auto& text : strings) option += "," + text;  // no shell: no quotes
    argv.push_back(option);
  }
  for (const auto& [name, exchange] : zones.mx_records) argv.push_back("--mx-host=" + name + "," + exchange + ",10");
  for (const auto& [name, target] : zones.ptr_records) argv.push_back("--ptr-record=" + name + "," + target);
  for (const auto& [name, address] : zones.wildcard_records) argv.push_back("--address=/" + name + "/" + address);
  for (const auto& zone : zones.silent_zones) {
    argv.push_back("--server=/" + zone + "/127.0.0.1#" + std::to_string(hole_port));
  }
  process_ = std::make_unique<ChildProcess>(argv, dir_.file("dnsmasq.log"));
  const auto deadline = std::chrono::steady_clock::now() + kStartPatience;
  while (process_->output().find("started, version") == std::string::npos) {
    if (std::chrono::steady_clock::now() > deadline || process_->wait_for_exit(std::chrono::milliseconds(20))) {
      const std::string output = process_->output();
      process_.reset();
      close(black_hole_fd_);
      throw std::runtime_error("dnsmasq did not start: " + output);
    }
  }
}

DnsmasqServer::~DnsmasqServer() {
  if (process_) resume();
  process_.reset();  // SIGKILL and reap
  if (black_hole_fd_ >= 0) close(black_hole_fd_);
}

std::string DnsmasqServer::log() const { return process_ ? process_->output() : std::string(); }

int DnsmasqServer::queries_for(const std::string& name, const std::string& type) const {
  const std::string text = log();
  const std::string needle = "]: query[" + type + "] " + name + " from";
  int count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

void DnsmasqServer::pause() { process_->signal(SIGSTOP); }
void DnsmasqServer::resume() { process_->signal(SIGCONT); }

}  // namespace greylist::testing
