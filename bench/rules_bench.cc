// rules-bench: the cost of the rules (issue 14) without the daemon.
//   - writes or evaluates a generated rules file of N rules (mixed clauses,
//     a fifth of them regexes, lists, continue rules, DNS lists), none of
//     which matches the benchmark's requests, so every request walks all
//     of them (the worst case);
//   - fills a DnsCache with M answers and reports the heap it takes.
// Prints one JSON line. Usage:
//   rules-bench [--rules N] [--requests N] [--cache-entries N] [--write-rules FILE]
#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "bench_util.h"
#include "dns/dns_cache.h"
#include "greylist/rule_set.h"

namespace {

// Rule i of a generated file; none matches this program's requests (from
// 198.51.100.0/24, for recipients at example.com) nor policy-load's (from
// 10.0.0.0/8, 172.16.0.0/12 and 192.0.2.0/24, for dest.bench.test), which
// bench/run-rules-benchmarks.sh sends to the daemon with this file.
std::string generated_rule(int i) {
  const std::string n = std::to_string(i);
  switch (i % 10) {
    case 0: return "racl whitelist addr 100." + std::to_string(64 + i % 64) + ".0.0/16\n";
    case 1: return "racl greylist rcpt user" + n + "@example.org delay 10m\n";
    case 2: return "racl whitelist domain host" + n + ".example.net\n";
    case 3: return "racl greylist rcpt /^list" + n + "-.*@example\\.org$/ delay 20m\n";
    case 4: return "racl blacklist helo /^bad" + n + "\\./\n";
    case 5: return "racl continue from @sender" + n + ".example delay 1h\n";
    case 6: return "racl whitelist addr 2001:db8:" + std::to_string(i % 9999) + "::/48 rcpt @example.org\n";
    case 7: return "racl greylist list \"names" + std::to_string(i % 10) + "\" delay 5m\n";
    case 8: return "racl blacklist dnsrbl \"bl\" rcpt trap" + n + "@example.org\n";
    default: return "racl greylist not domain /./ rcpt x" + n + "@example.org\n";
  }
}

std::string generated_file(int rules) {
  std::string text = "dnsrbl \"bl\" bl.example 127.0.0.2\n";
  for (int l = 0; l < 10; ++l) {
    text += "list \"names" + std::to_string(l) + "\" domain {";
    for (int v = 0; v < 10; ++v) text += " n" + std::to_string(l * 10 + v) + ".example.net";
    text += " }\n";
  }
  for (int i = 0; i < rules; ++i) text += generated_rule(i);
  return text;
}

// CPU time of this process: the machine may be shared while it runs.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::size_t heap_in_use() { return mallinfo2().uordblks; }

double cache_bytes_per_entry(int entries, std::size_t& total) {
  const std::size_t before = heap_in_use();
  auto cache = std::make_unique<greylist::DnsCache>(static_cast<std::size_t>(entries));
  const auto expires = std::chrono::steady_clock::now() + std::chrono::hours(1);
  for (int i = 0; i < entries; ++i) {
    const std::string name = std::to_string(i % 256) + "." + std::to_string((i / 256) % 256) + "." +
                             std::to_string(i / 65536) + ".198.zen.spamhaus.org";
    greylist::DnsAnswer answer;
    answer.kind = i % 4 == 0 ? greylist::DnsAnswer::Kind::kListed : greylist::DnsAnswer::Kind::kNotListed;
    if (i % 4 == 0) answer.addresses.push_back({127, 0, 0, 2});
    cache->put(name, answer, expires);
  }
  total = heap_in_use() - before;
  return entries > 0 ? static_cast<double>(total) / entries : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags(argc, argv,
                           {{"rules", "1000"}, {"requests", "20000"}, {"cache-entries", "100000"},
                            {"write-rules", ""}},
                           "usage: rules-bench [--rules N] [--requests N] [--cache-entries N] "
                           "[--write-rules FILE]\n");
  const int rules = static_cast<int>(flags.integer("rules", 1, 100000));
  const int requests = static_cast<int>(flags.integer("requests", 1, 100000000));
  const int cache_entries = static_cast<int>(flags.integer("cache-entries", 0, 10000000));
  const std::string text = generated_file(rules);
  if (const std::string& path = flags.str("write-rules"); !path.empty()) {
    std::ofstream(path) << text;
    return 0;
  }
  auto parsed = greylist::RuleSet::parse(text, "generated");
  if (!parsed.ok()) {
    std::fprintf(stderr, "rules-bench: %s\n", parsed.status().message().c_str());
    return 1;
  }
  const auto& set = *parsed.value();
  greylist::Request request;
  request.client_name = "mx.sender.example";
  request.helo_name = "mx.sender.example";
  request.sender = "alice@sender.example";
  int matched = 0;
  const double start = cpu_seconds();
  for (int i = 0; i < requests; ++i) {
    request.client_address = "198.51.100." + std::to_string(i % 250);
    request.recipient = "user" + std::to_string(i) + "@example.com";
    // What the daemon does per request: one walk, a second one with the
    // DNS answers only when a lookup is needed (none here: no answers
    // means every DNS list counts as not listed).
    const auto assessed = set.assess(request);
    const auto match = assessed.queries.empty() ? assessed.match : set.evaluate(request, {});
    matched += match.has_value() ? 1 : 0;
  }
  const double seconds = cpu_seconds() - start;
  std::size_t cache_total = 0;
  const double per_entry = cache_bytes_per_entry(cache_entries, cache_total);
  std::printf("{\"rules\": %zu, \"requests\": %d, \"matched\": %d, \"cpu_evaluations_per_s\": %.0f, "
              "\"cpu_us_per_request\": %.2f, \"cache_entries\": %d, \"cache_heap_bytes\": %zu, "
              "\"cache_bytes_per_entry\": %.1f}\n",
              set.rule_count(), requests, matched, requests / seconds, seconds * 1e6 / requests,
              cache_entries, cache_total, per_entry);
  return 0;
}
