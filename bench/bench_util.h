// Shared helpers of the benchmark tools (bench/): command-line flags,
// latency percentiles, the JSON result line, loopback sockets.
//
// Not part of the daemon; header-only so each tool stays one file.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

// "--name value" / "--name=value" flags; unknown names are an error so a
// typo in the harness fails loudly instead of measuring the wrong thing.
class Flags {
 public:
  Flags(int argc, char** argv, std::map<std::string, std::string> defaults, std::string usage)
      : values_(std::move(defaults)), usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "-h" || arg == "--help") {
        std::fprintf(stdout, "%s", usage_.c_str());
        std::exit(0);
      }
      if (arg.rfind("--", 0) != 0) fail("unexpected argument '" + arg + "'");
      arg.erase(0, 2);
      std::string value;
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg.resize(eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        fail("--" + arg + " needs a value");
      }
      if (values_.find(arg) == values_.end()) fail("unknown option --" + arg);
      values_[arg] = value;
    }
  }

  const std::string& str(const std::string& name) const { return values_.at(name); }

  long long integer(const std::string& name, long long min, long long max) const {
    const std::string& text = str(name);
    char* end = nullptr;
    errno = 0;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max) {
      fail("--" + name + " must be an integer in [" + std::to_string(min) + ", " +
           std::to_string(max) + "], not '" + text + "'");
    }
    return value;
  }

  double real(const std::string& name, double min, double max) const {
    const std::string& text = str(name);
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(value >= min && value <= max)) {
      fail("--" + name + " must be a number in [" + std::to_string(min) + ", " +
           std::to_string(max) + "], not '" + text + "'");
    }
    return value;
  }

  [[noreturn]] void fail(const std::string& message) const {
    std::fprintf(stderr, "%s\n%s", message.c_str(), usage_.c_str());
    std::exit(2);
  }

 private:
  std::map<std::string, std::string> values_;
  std::string usage_;
};

// Nearest-rank percentiles over every recorded latency (no sampling: the
// vectors are a few MB at most for the counts the harness uses).
struct Percentiles {
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
};

inline Percentiles percentiles(std::vector<std::uint64_t>& latencies_ns) {
  Percentiles p;
  if (latencies_ns.empty()) return p;
  std::sort(latencies_ns.begin(), latencies_ns.end());
  const auto at = [&](double q) {
    std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(latencies_ns.size()));
    if (rank >= latencies_ns.size()) rank = latencies_ns.size() - 1;
    return static_cast<double>(latencies_ns[rank]) / 1000.0;
  };
  p.p50_us = at(0.50);
  p.p90_us = at(0.90);
  p.p99_us = at(0.99);
  p.p999_us = at(0.999);
  p.max_us = static_cast<double>(latencies_ns.back()) / 1000.0;
  long double sum = 0;
  for (const auto v : latencies_ns) sum += static_cast<long double>(v);
  p.mean_us = static_cast<double>(sum / static_cast<long double>(latencies_ns.size()) / 1000.0L);
  return p;
}

// Letters only: the sender normalization turns digit runs into '#', so a
// unique sender must differ in letters.
inline std::string letters(std::uint64_t n) {
  std::string out;
  do {
    out += static_cast<char>('a' + n % 26);
    n /= 26;
  } while (n != 0);
  return out;
}

inline std::string json_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// The triplets bulk-load writes and the "prefilled" mix asks for: index i
// maps to one (client, sender, recipient); 256 consecutive indices share a
// /24 network, and no sender or client repeats across networks.
struct PrefillTriplet {
  std::string client_address;
  std::string sender;
  std::string recipient;
};

inline PrefillTriplet prefill_triplet(std::uint64_t i) {
  char addr[64];
  std::snprintf(addr, sizeof addr, "100.%u.%u.%u", static_cast<unsigned>(64 + ((i >> 16) & 63)),
                static_cast<unsigned>((i >> 8) & 255), static_cast<unsigned>(1 + i % 200));
  return {addr, "p" + letters(i) + "@prefill.bench.test", "user" + letters(i % 20) + "@dest.bench.test"};
}

// A cheap, well-mixed hash (splitmix64) to pick prefilled indices at random.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The load generators hold up to thousands of sockets.
inline void raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// A connected, blocking TCP socket to host:port with Nagle off; -1 on error.
inline int connect_tcp(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace bench
