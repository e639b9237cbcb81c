// policy-load: a load generator for Postfix policy servers that behaves like
// Postfix's smtpd processes: C connections, each sending one request and
// waiting for its reply before sending the next (no pipelining).
//
// Mixes: new (every triplet unseen), repeat (a pool of triplets made to pass
// in a pre-warm phase, then reused), whitelisted (clients in 192.0.2.0/24,
// which the harness puts in the servers' client whitelist), prefilled
// (random triplets among the --prefilled N that bench/bulk-load wrote).
// Bounded by --requests and --duration, whichever comes first; a reply that
// takes longer than --timeout counts as an error and closes its connection.
// Prints one JSON line (machine-readable) and one human line on stdout.
#include <fcntl.h>
#include <sys/epoll.h>

#include <atomic>
#include <cinttypes>
#include <thread>

#include "bench_util.h"

namespace {

constexpr std::size_t kMaxReply = 64 * 1024;

// A deadline of 0 is none.
bool now_ns_past(std::uint64_t deadline_ns) { return deadline_ns != 0 && bench::now_ns() >= deadline_ns; }

struct Options {
  std::string host;
  int port = 0;
  int connections = 0;
  int client_threads = 1;
  std::uint64_t requests = 0;
  double duration_s = 0;
  double timeout_s = 0;
  std::string mix;
  std::uint64_t pool = 0;
  std::uint64_t prefilled = 0;
  double prewarm_wait_s = 0;
  std::uint64_t nonce = 0;
  std::string label;
};

// The request Postfix 3.7 smtpd sends at RCPT time (every attribute, most
// empty), so parsing cost is what a real server sees.
std::string make_request(const Options& o, std::uint64_t index, bool prewarm_pool) {
  std::string client;
  std::string client_name;
  std::string sender;
  const std::string tag = bench::letters(o.nonce);
  char addr[64];
  if (o.mix == "prefilled") {
    // Entries bulk-load wrote (passed, recent): random over the whole store.
    const bench::PrefillTriplet t = bench::prefill_triplet(bench::mix64(index ^ o.nonce) % o.prefilled);
    client = t.client_address;
    client_name = "unknown";
    sender = t.sender;
  } else if (o.mix == "repeat" || prewarm_pool) {
    // One /24 per pooled triplet, so no client reaches the auto-whitelist
    // and every repeat goes through the triplet lookup.
    const std::uint64_t p = index % o.pool;
    std::snprintf(addr, sizeof addr, "172.%u.%u.9", static_cast<unsigned>(16 + ((p >> 8) & 15)),
                  static_cast<unsigned>(p & 255));
    client = addr;
    client_name = "unknown";  // no name: --pool-by-domain and the domain AWL stay out of the way
    sender = "r" + bench::letters(p) + "q" + tag + "@pool.bench.test";
  } else if (o.mix == "whitelisted") {
    std::snprintf(addr, sizeof addr, "192.0.2.%u", static_cast<unsigned>(index % 250 + 1));
    client = addr;
    client_name = "wl.bench.test";
    sender = "w" + bench::letters(index) + "q" + tag + "@wl.bench.test";
  } else {  // new
    std::snprintf(addr, sizeof addr, "10.%u.%u.%u", static_cast<unsigned>((index >> 16) & 255),
                  static_cast<unsigned>((index >> 8) & 255), static_cast<unsigned>(index & 255));
    client = addr;
    client_name = "unknown";
    sender = "n" + bench::letters(index) + "q" + tag + "@new.bench.test";
  }
  std::string r;
  r.reserve(900);
  r += "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n";
  r += "helo_name=" + client_name + "\n";
  r += "queue_id=\n";
  r += "sender=" + sender + "\n";
  if (o.mix == "prefilled") {
    r += "recipient=" + bench::prefill_triplet(bench::mix64(index ^ o.nonce) % o.prefilled).recipient + "\n";
  } else {
    r += "recipient=user" + bench::letters(index % 20) + "@dest.bench.test\n";
  }
  r += "recipient_count=0\n";
  r += "client_address=" + client + "\n";
  r += "client_name=" + client_name + "\n";
  r += "reverse_client_name=" + client_name + "\n";
  r += "instance=" + tag + "." + bench::letters(index) + "\n";
  r += "sasl_method=\nsasl_username=\nsasl_sender=\nsize=0\nccert_subject=\nccert_issuer=\n"
       "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=\nencryption_cipher=\n"
       "encryption_keysize=0\netrn_domain=\nstress=\ncompatibility_level=3.6\n"
       "mail_version=3.7.11\nserver_address=127.0.0.1\nserver_port=25\npolicy_context=\n";
  r += "client_port=" + std::to_string(1024 + index % 60000) + "\n\n";
  return r;
}

enum Answer { kDunno, kDefer, kPrepend, kOther, kAnswerCount };

Answer classify(std::string_view reply) {
  if (reply.rfind("action=", 0) != 0) return kOther;
  reply.remove_prefix(7);
  const auto word = reply.substr(0, reply.find_first_of(" \n"));
  if (word == "DUNNO") return kDunno;
  if (word == "DEFER_IF_PERMIT") return kDefer;
  if (word == "PREPEND") return kPrepend;
  return kOther;
}

struct Connection {
  int fd = -1;
  std::string out;
  std::size_t out_done = 0;
  std::string in;
  std::uint64_t sent_at = 0;
  bool busy = false;
};

struct Phase {
  // Requests are numbered first..first+count-1 (the pool index for pre-warm).
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  std::uint64_t deadline_ns = 0;
  bool prewarm = false;
  bool record = false;
  std::atomic<std::uint64_t> next{0};
};

struct ThreadResult {
  std::vector<std::uint64_t> latencies;
  std::uint64_t answers[kAnswerCount] = {};
  std::uint64_t errors = 0;
  std::uint64_t done = 0;
  std::string first_error;
};

void note_error(ThreadResult& result, const std::string& what) {
  ++result.errors;
  if (result.first_error.empty()) result.first_error = what;
}

// One epoll loop driving its share of the connections through one phase.
void drive(const Options& o, std::vector<Connection>& conns, Phase& phase, ThreadResult& result) {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::size_t active = 0;
  const std::uint64_t timeout_ns = static_cast<std::uint64_t>(o.timeout_s * 1e9);

  const auto start_next = [&](Connection& c) -> bool {
    if (now_ns_past(phase.deadline_ns)) return false;
    const std::uint64_t n = phase.next.fetch_add(1, std::memory_order_relaxed);
    if (n >= phase.count) return false;
    c.out = make_request(o, phase.first + n, phase.prewarm);
    c.out_done = 0;
    c.in.clear();
    c.sent_at = bench::now_ns();
    c.busy = true;
    while (c.out_done < c.out.size()) {
      const ssize_t w = write(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done);
      if (w > 0) {
        c.out_done += static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EAGAIN) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = &c;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        return true;
      } else {
        return false;
      }
    }
    return true;
  };
  const auto drop = [&](Connection& c, const std::string& why) {
    note_error(result, why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    c.busy = false;
  };

  for (auto& c : conns) {
    if (c.fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    if (start_next(c)) ++active;
  }

  std::vector<epoll_event> events(256);
  char buf[16384];
  while (active > 0) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 50);
    const std::uint64_t now = bench::now_ns();
    for (int i = 0; i < n; ++i) {
      Connection& c = *static_cast<Connection*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c.fd < 0 || !c.busy) continue;
      if ((events[static_cast<std::size_t>(i)].events & EPOLLOUT) != 0 && c.out_done < c.out.size()) {
        const ssize_t w = write(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done);
        if (w > 0) c.out_done += static_cast<std::size_t>(w);
        if (c.out_done == c.out.size()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = &c;
          epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if ((events[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) == 0) continue;
      const ssize_t r = read(c.fd, buf, sizeof buf);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        drop(c, r == 0 ? "server closed the connection" : std::string("read: ") + std::strerror(errno));
        --active;
        continue;
      }
      c.in.append(buf, static_cast<std::size_t>(r));
      const auto end = c.in.find("\n\n");
      if (end == std::string::npos) {
        if (c.in.size() > kMaxReply) {
          drop(c, "reply too long");
          --active;
        }
        continue;
      }
      const std::uint64_t done_at = bench::now_ns();
      if (end + 2 != c.in.size()) {
        drop(c, "unexpected bytes after a reply");
        --active;
        continue;
      }
      if (phase.record) result.latencies.push_back(done_at - c.sent_at);
      ++result.answers[classify(c.in)];
      ++result.done;
      c.busy = false;
      if (!start_next(c)) --active;
    }
    // Replies overdue: count and abandon (the server is stuck or dead).
    for (auto& c : conns) {
      if (c.fd >= 0 && c.busy && now > c.sent_at + timeout_ns) {
        drop(c, "no reply within the timeout");
        --active;
      }
    }
  }
  close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: policy-load --port N [--host 127.0.0.1] [--connections 32] [--mix new|repeat|whitelisted]\n"
      "         [--requests 100000] [--duration 10] [--timeout 10] [--pool 2000] [--prewarm-wait 2] [--prewarm yes|no]\n"
      "         [--client-threads 1] [--nonce N] [--label TEXT] [--prefilled N (mix prefilled)]\n";
  bench::Flags flags(argc, argv,
                     {{"host", "127.0.0.1"}, {"port", "0"}, {"connections", "32"}, {"mix", "new"},
                      {"requests", "100000"}, {"duration", "10"}, {"timeout", "10"}, {"pool", "2000"},
                      {"prewarm-wait", "2"}, {"prewarm", "yes"}, {"client-threads", "1"}, {"nonce", "0"}, {"label", ""}, {"prefilled", "0"}},
                     usage);
  Options o;
  o.host = flags.str("host");
  o.port = static_cast<int>(flags.integer("port", 1, 65535));
  o.connections = static_cast<int>(flags.integer("connections", 1, 100000));
  o.client_threads = static_cast<int>(flags.integer("client-threads", 1, 64));
  o.requests = static_cast<std::uint64_t>(flags.integer("requests", 1, 1LL << 40));
  o.duration_s = flags.real("duration", 0.1, 86400);
  o.timeout_s = flags.real("timeout", 0.1, 3600);
  o.mix = flags.str("mix");
  o.pool = static_cast<std::uint64_t>(flags.integer("pool", 1, 4096));
  o.prewarm_wait_s = flags.real("prewarm-wait", 0, 3600);
  o.nonce = static_cast<std::uint64_t>(flags.integer("nonce", 0, 1LL << 40));
  if (o.nonce == 0) o.nonce = static_cast<std::uint64_t>(time(nullptr)) * 1000 + static_cast<std::uint64_t>(getpid() % 1000);
  o.label = flags.str("label");
  o.prefilled = static_cast<std::uint64_t>(flags.integer("prefilled", 0, 1LL << 40));
  if (o.mix != "new" && o.mix != "repeat" && o.mix != "whitelisted" && o.mix != "prefilled") {
    flags.fail("--mix must be new, repeat, whitelisted or prefilled");
  }
  if (o.mix == "prefilled" && o.prefilled == 0) flags.fail("--mix prefilled needs --prefilled N");
  if (o.client_threads > o.connections) o.client_threads = o.connections;
  bench::raise_fd_limit();

  std::vector<Connection> conns(static_cast<std::size_t>(o.connections));
  std::uint64_t connect_errors = 0;
  for (auto& c : conns) {
    c.fd = bench::connect_tcp(o.host, o.port);
    if (c.fd < 0) {
      ++connect_errors;
      continue;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  }
  if (connect_errors == conns.size()) {
    std::fprintf(stderr, "policy-load: cannot connect to %s:%d\n", o.host.c_str(), o.port);
    return 1;
  }

  // Split connections between client threads once; each phase reuses it.
  std::vector<std::vector<Connection>> shares(static_cast<std::size_t>(o.client_threads));
  for (std::size_t i = 0; i < conns.size(); ++i) shares[i % shares.size()].push_back(conns[i]);

  const auto run_phase = [&](Phase& phase, std::vector<ThreadResult>& results) {
    results.assign(shares.size(), ThreadResult());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < shares.size(); ++t) {
      threads.emplace_back([&, t] { drive(o, shares[t], phase, results[t]); });
    }
    for (auto& th : threads) th.join();
  };

  std::uint64_t prewarm_errors = 0;
  if (o.mix == "repeat" && flags.str("prewarm") == "yes") {
    // Two passes over the pool with a pause longer than the server's delay
    // between them: the second pass makes every pooled triplet pass.
    for (int pass = 0; pass < 2; ++pass) {
      Phase warm;
      warm.count = o.pool;
      warm.prewarm = true;
      warm.deadline_ns = bench::now_ns() + static_cast<std::uint64_t>(60e9);
      std::vector<ThreadResult> results;
      run_phase(warm, results);
      for (const auto& r : results) prewarm_errors += r.errors;
      if (pass == 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.prewarm_wait_s));
    }
  }

  Phase phase;
  phase.count = o.requests;
  phase.record = true;
  const std::uint64_t start = bench::now_ns();
  phase.deadline_ns = start + static_cast<std::uint64_t>(o.duration_s * 1e9);
  std::vector<ThreadResult> results;
  run_phase(phase, results);
  const double seconds = static_cast<double>(bench::now_ns() - start) / 1e9;

  std::vector<std::uint64_t> all;
  std::uint64_t answers[kAnswerCount] = {};
  std::uint64_t errors = connect_errors + prewarm_errors;
  std::uint64_t done = 0;
  std::string first_error = connect_errors ? "connect failed" : "";
  for (auto& r : results) {
    all.insert(all.end(), r.latencies.begin(), r.latencies.end());
    for (int a = 0; a < kAnswerCount; ++a) answers[a] += r.answers[a];
    errors += r.errors;
    done += r.done;
    if (first_error.empty()) first_error = r.first_error;
  }
  for (auto& share : shares) {
    for (auto& c : share) {
      if (c.fd >= 0) close(c.fd);
    }
  }
  const bench::Percentiles p = bench::percentiles(all);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::printf(
      "{\"tool\":\"policy-load\",\"label\":\"%s\",\"mix\":\"%s\",\"connections\":%d,\"requests\":%" PRIu64
      ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
      "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,\"answers\":{\"DUNNO\":%" PRIu64
      ",\"DEFER_IF_PERMIT\":%" PRIu64 ",\"PREPEND\":%" PRIu64 ",\"other\":%" PRIu64 "},\"first_error\":\"%s\"}\n",
      bench::json_escape(o.label).c_str(), o.mix.c_str(), o.connections, done, errors, seconds, rate, p.p50_us,
      p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us, answers[kDunno], answers[kDefer], answers[kPrepend],
      answers[kOther], bench::json_escape(first_error).c_str());
  std::printf("%s mix=%s C=%d: %" PRIu64 " requests in %.2f s = %.0f req/s; latency p50 %.3f ms, p99 %.3f ms, "
              "p99.9 %.3f ms, max %.3f ms; errors %" PRIu64 "\n",
              o.label.empty() ? "policy-load" : o.label.c_str(), o.mix.c_str(), o.connections, done, seconds, rate,
              p.p50_us / 1000, p.p99_us / 1000, p.p999_us / 1000, p.max_us / 1000, errors);
  return errors == 0 ? 0 : 3;
}
