// dns-cache-rss: the memory the daemon's DNS cache takes, as the process's
// resident set size (issue 14). Starts an AresResolver (the daemon's) on a
// DNS server the caller runs (bench/run-rules-benchmarks.sh starts dnsmasq
// on loopback), looks up --names distinct names in batches as DNS lists
// would be asked (a quarter under --listed-zone, answered 127.0.0.2, the
// rest under --unlisted-zone, NXDOMAIN), so that every answer is cached,
// and reads VmRSS before the resolver, after it started and once the cache
// is full. Prints one JSON line. Usage:
//   dns-cache-rss --server 127.0.0.1:PORT [--names N] [--listed-zone Z] [--unlisted-zone Z]
#include <time.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "greylist/ares_resolver.h"

namespace {

constexpr std::size_t kBatch = 64;  // a burst dnsmasq's socket buffer takes whole
constexpr std::chrono::milliseconds kBatchPatience{10000};

long rss_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Name i: an IPv4 client reversed under its zone, as a DNS list is asked
// ("4.3.2.198.bl.spamhaus.test").
std::string name_of(long i, const std::string& listed, const std::string& unlisted) {
  return std::to_string(i % 256) + "." + std::to_string((i / 256) % 256) + "." +
         std::to_string(i / 65536) + ".198." + (i % 4 == 0 ? listed : unlisted);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags(argc, argv,
                           {{"server", ""}, {"names", "100000"}, {"listed-zone", "bl.spamhaus.test"},
                            {"unlisted-zone", "zen.spamhaus.test"}},
                           "usage: dns-cache-rss --server HOST:PORT [--names N] [--listed-zone Z] "
                           "[--unlisted-zone Z]\n");
  const long names = static_cast<long>(flags.integer("names", 1, 10000000));
  if (flags.str("server").empty()) {
    std::fprintf(stderr, "dns-cache-rss: --server is required\n");
    return 2;
  }
  const long rss_start = rss_kb();
  greylist::AresResolverOptions options;
  options.servers = {flags.str("server")};
  options.cache_entries = static_cast<std::size_t>(names);
  options.timeout = std::chrono::milliseconds(5000);
  options.min_ttl = std::chrono::seconds(3600);  // nothing expires while the cache fills
  auto created = greylist::AresResolver::create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "dns-cache-rss: %s\n", created.status().message().c_str());
    return 1;
  }
  auto resolver = std::move(created).value();
  const long rss_resolver = rss_kb();
  long listed = 0, not_listed = 0, failed = 0;
  const auto start = std::chrono::steady_clock::now();
  for (long first = 0; first < names; first += static_cast<long>(kBatch)) {
    std::vector<std::string> batch;
    for (long i = first; i < names && i < first + static_cast<long>(kBatch); ++i) {
      batch.push_back(name_of(i, flags.str("listed-zone"), flags.str("unlisted-zone")));
    }
    for (const auto& [name, answer] : greylist::resolve_and_wait(*resolver, batch, kBatchPatience)) {
      listed += answer.kind == greylist::DnsAnswer::Kind::kListed ? 1 : 0;
      not_listed += answer.kind == greylist::DnsAnswer::Kind::kNotListed ? 1 : 0;
      failed += answer.kind == greylist::DnsAnswer::Kind::kFailed ? 1 : 0;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long rss_filled = rss_kb();
  const auto stats = resolver->stats();
  const double per_entry =
      stats.cached > 0 ? static_cast<double>(rss_filled - rss_resolver) * 1024 / stats.cached : 0;
  std::printf("{\"names\": %ld, \"cached\": %zu, \"listed\": %ld, \"not_listed\": %ld, \"failed\": %ld, "
              "\"fill_seconds\": %.1f, \"rss_start_kb\": %ld, \"rss_resolver_kb\": %ld, "
              "\"rss_filled_kb\": %ld, \"rss_bytes_per_entry\": %.0f}\n",
              names, stats.cached, listed, not_listed, failed, seconds, rss_start, rss_resolver,
              rss_filled, per_entry);
  return failed == 0 ? 0 : 1;
}
