// milter-load: a load generator that speaks the milter protocol the way
// Postfix's milter client (milter8.c) does.
//
// Each of C threads plays one SMTP server process: for each SMTP session it
// opens a new connection to the filter (Postfix does, because libmilter
// closes the socket when a session ends), negotiates protocol version 6
// offering every action and protocol flag Postfix offers, then sends
// CONNECT, HELO and, per message, MAIL, RCPT x k, DATA, headers,
// end-of-headers, body and end-of-message, with ABORT between messages and
// QUIT at the end. It honours what the filter negotiated: a step the filter
// asked not to receive (SMFIP_NO*) is not sent, and a reply the filter said
// it will not send (SMFIP_NR_*) is not awaited. Macros are sent before
// CONNECT, MAIL, RCPT and end-of-message, as Postfix does.
//
// A message whose recipients were all refused ends at RCPT (Postfix does
// not send DATA then). Latency is per message: from the first byte of the
// session (for its first message) or of MAIL (for later ones) to the final
// reply of the message's last step.
// Prints one JSON line and one human line on stdout.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cinttypes>
#include <thread>

#include "bench_util.h"

namespace {

// Protocol constants (libmilter's mfdef.h; kept here so the client does not
// depend on the filter library it measures).
constexpr std::uint32_t kVersion = 6;
constexpr std::uint32_t kOfferedActions = 0x1FF;    // SMFIF_ADDHDRS .. SMFIF_SETSYMLIST
constexpr std::uint32_t kOfferedProtocol = 0x1FFFFF;  // Postfix's MILTER8_V6_PROTO_MASK
constexpr std::uint32_t kNoConnect = 0x1, kNoHelo = 0x2, kNoMail = 0x4, kNoRcpt = 0x8, kNoBody = 0x10,
                        kNoHdrs = 0x20, kNoEoh = 0x40, kNrHdr = 0x80, kNoData = 0x200, kNrConn = 0x1000,
                        kNrHelo = 0x2000, kNrMail = 0x4000, kNrRcpt = 0x8000, kNrData = 0x10000,
                        kNrEoh = 0x40000, kNrBody = 0x80000;
constexpr std::uint32_t kMaxPacket = 1 << 20;

struct Options {
  std::string host;
  int port = 0;
  int connections = 0;
  std::uint64_t messages = 0;
  double duration_s = 0;
  double timeout_s = 0;
  std::string mix;
  int rcpts = 1;
  int per_session = 1;
  std::uint64_t pool = 0;
  double prewarm_wait_s = 0;
  std::uint64_t nonce = 0;
  std::string label;
};

enum Outcome { kPassed, kHeader, kTempfail, kRejected, kAccepted, kOutcomeCount };

struct Tally {
  std::vector<std::uint64_t> latencies;
  std::uint64_t outcomes[kOutcomeCount] = {};
  std::uint64_t errors = 0;
  std::uint64_t done = 0;
  std::uint64_t sessions = 0;
  std::string first_error;
};

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class MilterConnection {
 public:
  MilterConnection(const Options& o) {
    fd_ = bench::connect_tcp(o.host, o.port);
    if (fd_ < 0) throw ProtocolError(std::string("connect: ") + std::strerror(errno));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(o.timeout_s);
    tv.tv_usec = static_cast<suseconds_t>((o.timeout_s - static_cast<double>(tv.tv_sec)) * 1e6);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~MilterConnection() {
    if (fd_ >= 0) close(fd_);
  }
  MilterConnection(const MilterConnection&) = delete;
  MilterConnection& operator=(const MilterConnection&) = delete;

  void send(char command, std::string_view data) {
    std::string packet(5, '\0');
    const std::uint32_t length = htonl(static_cast<std::uint32_t>(data.size() + 1));
    std::memcpy(packet.data(), &length, 4);
    packet[4] = command;
    packet.append(data);
    std::size_t done = 0;
    while (done < packet.size()) {
      const ssize_t w = write(fd_, packet.data() + done, packet.size() - done);
      if (w <= 0) throw ProtocolError(std::string("write: ") + (w == 0 ? "closed" : std::strerror(errno)));
      done += static_cast<std::size_t>(w);
    }
  }

  // One reply packet: its command byte, data in `data`.
  char receive(std::string& data) {
    std::uint32_t length = 0;
    read_exact(&length, 4);
    length = ntohl(length);
    if (length < 1 || length > kMaxPacket) throw ProtocolError("bad reply length " + std::to_string(length));
    char command = 0;
    read_exact(&command, 1);
    data.resize(length - 1);
    if (length > 1) read_exact(data.data(), length - 1);
    return command;
  }

  void negotiate() {
    std::string data(12, '\0');
    const std::uint32_t fields[3] = {htonl(kVersion), htonl(kOfferedActions), htonl(kOfferedProtocol)};
    std::memcpy(data.data(), fields, 12);
    send('O', data);
    std::string reply;
    if (receive(reply) != 'O' || reply.size() < 12) throw ProtocolError("bad option negotiation reply");
    std::uint32_t got[3];
    std::memcpy(got, reply.data(), 12);
    actions_ = ntohl(got[1]);
    protocol_ = ntohl(got[2]);
    if ((protocol_ & ~kOfferedProtocol) != 0) throw ProtocolError("filter asked for protocol flags not offered");
  }

  std::uint32_t protocol() const { return protocol_; }
  std::uint32_t actions() const { return actions_; }

  // Sends one step unless the filter asked to skip it; waits for its final
  // reply unless the filter said it sends none. Returns the reply command
  // ('c' when skipped or not awaited); `modifications` counts the
  // end-of-message actions (add/insert header...) seen before it.
  char step(char command, std::string_view data, std::uint32_t skip_flag, std::uint32_t no_reply_flag,
            int* modifications = nullptr) {
    if (skip_flag != 0 && (protocol_ & skip_flag) != 0) return 'c';
    send(command, data);
    if (no_reply_flag != 0 && (protocol_ & no_reply_flag) != 0) return 'c';
    std::string reply;
    for (;;) {
      const char r = receive(reply);
      switch (r) {
        case 'c': case 'a': case 'r': case 't': case 'd': case 'y': case 's': case 'f': case '4':
          return r;
        case 'p':  // progress: keep waiting
          continue;
        case 'h': case 'i': case 'm': case '+': case '-': case '2': case 'b': case 'e': case 'q':
          if (command != 'E') throw ProtocolError(std::string("modification '") + r + "' before end of message");
          if (modifications != nullptr) ++*modifications;
          continue;
        default:
          throw ProtocolError(std::string("unexpected reply '") + r + "'");
      }
    }
  }

 private:
  void read_exact(void* out, std::size_t n) {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      const ssize_t r = read(fd_, p, n);
      if (r <= 0) {
        throw ProtocolError(r == 0 ? "filter closed the connection"
                                   : std::string("read: ") + (errno == EAGAIN ? "timeout" : std::strerror(errno)));
      }
      p += r;
      n -= static_cast<std::size_t>(r);
    }
  }

  int fd_ = -1;
  std::uint32_t actions_ = 0;
  std::uint32_t protocol_ = 0;
};

std::string zstr(std::string_view text) {
  std::string out(text);
  out += '\0';
  return out;
}

struct Envelope {
  std::string client_address;
  std::string client_name;
  std::string sender;
  std::vector<std::string> recipients;
};

Envelope envelope_for(const Options& o, std::uint64_t index, bool pooled) {
  Envelope e;
  const std::string tag = bench::letters(o.nonce);
  char addr[64];
  if (pooled) {
    const std::uint64_t p = index % o.pool;
    std::snprintf(addr, sizeof addr, "172.%u.%u.9", static_cast<unsigned>(16 + ((p >> 8) & 15)),
                  static_cast<unsigned>(p & 255));
    e.client_name = "unknown";  // no name: --pool-by-domain and the domain AWL stay out of the way
    e.sender = "r" + bench::letters(p) + "q" + tag + "@pool.bench.test";
    index = p;
  } else if (o.mix == "whitelisted") {
    std::snprintf(addr, sizeof addr, "192.0.2.%u", static_cast<unsigned>(index % 250 + 1));
    e.client_name = "wl.bench.test";
    e.sender = "w" + bench::letters(index) + "q" + tag + "@wl.bench.test";
  } else {
    std::snprintf(addr, sizeof addr, "10.%u.%u.%u", static_cast<unsigned>((index >> 16) & 255),
                  static_cast<unsigned>((index >> 8) & 255), static_cast<unsigned>(index & 255));
    e.client_name = "unknown";
    e.sender = "n" + bench::letters(index) + "q" + tag + "@new.bench.test";
  }
  e.client_address = addr;
  for (int k = 0; k < o.rcpts; ++k) {
    e.recipients.push_back("user" + bench::letters((index + static_cast<std::uint64_t>(k)) % 20) + "k" +
                           bench::letters(static_cast<std::uint64_t>(k)) + "@dest.bench.test");
  }
  return e;
}

bool refused(char r) { return r == 'r' || r == 't' || r == 'y' || r == 'f' || r == '4'; }

// Runs one message on an open session; returns its outcome.
Outcome run_message(MilterConnection& m, const Envelope& e, const std::string& queue_id) {
  // Macros get no reply; they go only before steps the filter receives.
  if ((m.protocol() & kNoMail) == 0) {
    m.send('D', std::string("M") + zstr("i") + zstr(queue_id) + zstr("{mail_addr}") + zstr(e.sender));
  }
  char r = m.step('M', zstr("<" + e.sender + ">") + zstr("SIZE=2048") + zstr("BODY=8BITMIME"), kNoMail, kNrMail);
  if (r == 'a') return kAccepted;
  if (refused(r) || r == 'd') return kRejected;
  int accepted = 0;
  int tempfailed = 0;
  for (const auto& rcpt : e.recipients) {
    if ((m.protocol() & kNoRcpt) == 0) {
      m.send('D', std::string("R") + zstr("i") + zstr(queue_id) + zstr("{rcpt_addr}") + zstr(rcpt));
    }
    r = m.step('R', zstr("<" + rcpt + ">"), kNoRcpt, kNrRcpt);
    if (r == 'd') return kRejected;
    if (refused(r)) {
      ++tempfailed;
    } else {
      ++accepted;
    }
  }
  if (accepted == 0) return tempfailed > 0 ? kTempfail : kRejected;
  r = m.step('T', "", kNoData, kNrData);
  if (r == 'a') return kAccepted;
  if (refused(r) || r == 'd') return kRejected;
  if ((m.protocol() & kNoHdrs) == 0) {
    const char* const headers[][2] = {{"From", "<sender@bench.test>"},
                                      {"To", "<user@dest.bench.test>"},
                                      {"Subject", "benchmark message"}};
    for (const auto& h : headers) {
      r = m.step('L', zstr(h[0]) + zstr(h[1]), kNoHdrs, kNrHdr);
      if (refused(r) || r == 'd') return kRejected;
    }
  }
  r = m.step('N', "", kNoEoh, kNrEoh);
  if (refused(r) || r == 'd') return kRejected;
  if ((m.protocol() & kNoBody) == 0) {
    r = m.step('B', std::string(2048, 'x'), kNoBody, kNrBody);
    if (refused(r) || r == 'd') return kRejected;
  }
  m.send('D', std::string("E") + zstr("i") + zstr(queue_id));
  int modifications = 0;
  r = m.step('E', "", 0, 0, &modifications);
  if (refused(r) || r == 'd') return kRejected;
  return modifications > 0 ? kHeader : kPassed;
}

struct Phase {
  std::uint64_t count = 0;
  std::uint64_t deadline_ns = 0;
  bool pooled = false;
  bool record = false;
  std::atomic<std::uint64_t> next{0};
};

void drive(const Options& o, Phase& phase, Tally& tally) {
  const auto take = [&](std::uint64_t& index) {
    if (phase.deadline_ns != 0 && bench::now_ns() >= phase.deadline_ns) return false;
    index = phase.next.fetch_add(1, std::memory_order_relaxed);
    return index < phase.count;
  };
  std::uint64_t index = 0;
  bool more = take(index);
  while (more) {
    const std::uint64_t session_start = bench::now_ns();
    try {
      MilterConnection m(o);
      m.negotiate();
      ++tally.sessions;
      const Envelope first = envelope_for(o, index, phase.pooled);
      std::string connect = zstr(first.client_name);
      connect += '4';
      const std::uint16_t port = htons(static_cast<std::uint16_t>(1024 + index % 60000));
      connect.append(reinterpret_cast<const char*>(&port), 2);
      connect += zstr(first.client_address);
      if ((m.protocol() & kNoConnect) == 0) {
        m.send('D', std::string("C") + zstr("j") + zstr("mx.bench.test") + zstr("{daemon_name}") + zstr("smtpd") +
                        zstr("v") + zstr("Postfix 3.7.11"));
      }
      char r = m.step('C', connect, kNoConnect, kNrConn);
      bool session_accepted = r == 'a';
      bool session_refused = refused(r);
      if (!session_accepted && !session_refused) {
        r = m.step('H', zstr("mx." + first.client_name), kNoHelo, kNrHelo);
        session_accepted = r == 'a';
        session_refused = refused(r);
      }
      for (int k = 0; k < o.per_session && more; ++k) {
        const std::uint64_t start = k == 0 ? session_start : bench::now_ns();
        Outcome outcome = session_accepted ? kAccepted : kRejected;
        if (!session_accepted && !session_refused) {
          const Envelope e = k == 0 ? first : envelope_for(o, index, phase.pooled);
          outcome = run_message(m, e, "Q" + bench::letters(index) + bench::letters(o.nonce));
        }
        const std::uint64_t end = bench::now_ns();
        if (phase.record) tally.latencies.push_back(end - start);
        ++tally.outcomes[outcome];
        ++tally.done;
        more = take(index);
        if (more && k + 1 < o.per_session) m.send('A', "");
      }
      m.send('Q', "");
    } catch (const ProtocolError& e) {
      ++tally.errors;
      if (tally.first_error.empty()) tally.first_error = e.what();
      more = take(index);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage =
      "usage: milter-load --port N [--host 127.0.0.1] [--connections 32] [--mix new|repeat|whitelisted]\n"
      "         [--messages 20000] [--duration 10] [--timeout 10] [--rcpts 2] [--messages-per-session 1]\n"
      "         [--pool 1000] [--prewarm-wait 2] [--prewarm yes|no] [--nonce N] [--label TEXT]\n";
  bench::Flags flags(argc, argv,
                     {{"host", "127.0.0.1"}, {"port", "0"}, {"connections", "32"}, {"mix", "new"},
                      {"messages", "20000"}, {"duration", "10"}, {"timeout", "10"}, {"rcpts", "2"},
                      {"messages-per-session", "1"}, {"pool", "1000"}, {"prewarm-wait", "2"}, {"prewarm", "yes"}, {"nonce", "0"},
                      {"label", ""}},
                     usage);
  Options o;
  o.host = flags.str("host");
  o.port = static_cast<int>(flags.integer("port", 1, 65535));
  o.connections = static_cast<int>(flags.integer("connections", 1, 4096));
  o.messages = static_cast<std::uint64_t>(flags.integer("messages", 1, 1LL << 40));
  o.duration_s = flags.real("duration", 0.1, 86400);
  o.timeout_s = flags.real("timeout", 0.1, 3600);
  o.mix = flags.str("mix");
  o.rcpts = static_cast<int>(flags.integer("rcpts", 1, 100));
  o.per_session = static_cast<int>(flags.integer("messages-per-session", 1, 1000));
  o.pool = static_cast<std::uint64_t>(flags.integer("pool", 1, 4096));
  o.prewarm_wait_s = flags.real("prewarm-wait", 0, 3600);
  o.nonce = static_cast<std::uint64_t>(flags.integer("nonce", 0, 1LL << 40));
  if (o.nonce == 0) o.nonce = static_cast<std::uint64_t>(time(nullptr)) * 1000 + static_cast<std::uint64_t>(getpid() % 1000);
  o.label = flags.str("label");
  if (o.mix != "new" && o.mix != "repeat" && o.mix != "whitelisted") flags.fail("--mix must be new, repeat or whitelisted");
  bench::raise_fd_limit();

  const auto run_phase = [&](Phase& phase, std::vector<Tally>& tallies) {
    tallies.assign(static_cast<std::size_t>(o.connections), Tally());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < tallies.size(); ++t) threads.emplace_back([&, t] { drive(o, phase, tallies[t]); });
    for (auto& th : threads) th.join();
  };

  std::uint64_t prewarm_errors = 0;
  if (o.mix == "repeat" && flags.str("prewarm") == "yes") {
    for (int pass = 0; pass < 2; ++pass) {
      Phase warm;
      warm.count = o.pool;
      warm.pooled = true;
      warm.deadline_ns = bench::now_ns() + static_cast<std::uint64_t>(60e9);
      std::vector<Tally> tallies;
      run_phase(warm, tallies);
      for (const auto& t : tallies) prewarm_errors += t.errors;
      if (pass == 0) std::this_thread::sleep_for(std::chrono::duration<double>(o.prewarm_wait_s));
    }
  }

  Phase phase;
  phase.count = o.messages;
  phase.pooled = o.mix == "repeat";
  phase.record = true;
  const std::uint64_t start = bench::now_ns();
  phase.deadline_ns = start + static_cast<std::uint64_t>(o.duration_s * 1e9);
  std::vector<Tally> tallies;
  run_phase(phase, tallies);
  const double seconds = static_cast<double>(bench::now_ns() - start) / 1e9;

  std::vector<std::uint64_t> all;
  std::uint64_t outcomes[kOutcomeCount] = {};
  std::uint64_t errors = prewarm_errors, done = 0, sessions = 0;
  std::string first_error;
  for (auto& t : tallies) {
    all.insert(all.end(), t.latencies.begin(), t.latencies.end());
    for (int k = 0; k < kOutcomeCount; ++k) outcomes[k] += t.outcomes[k];
    errors += t.errors;
    done += t.done;
    sessions += t.sessions;
    if (first_error.empty()) first_error = t.first_error;
  }
  const bench::Percentiles p = bench::percentiles(all);
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::printf(
      "{\"tool\":\"milter-load\",\"label\":\"%s\",\"mix\":\"%s\",\"connections\":%d,\"rcpts\":%d,"
      "\"messages_per_session\":%d,\"messages\":%" PRIu64 ",\"sessions\":%" PRIu64 ",\"errors\":%" PRIu64
      ",\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f,\"mean_us\":%.1f,\"outcomes\":{\"passed\":%" PRIu64 ",\"header\":%" PRIu64
      ",\"tempfail\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"accepted\":%" PRIu64 "},\"first_error\":\"%s\"}\n",
      bench::json_escape(o.label).c_str(), o.mix.c_str(), o.connections, o.rcpts, o.per_session, done, sessions,
      errors, seconds, rate, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us, p.mean_us, outcomes[kPassed],
      outcomes[kHeader], outcomes[kTempfail], outcomes[kRejected], outcomes[kAccepted],
      bench::json_escape(first_error).c_str());
  std::printf("%s mix=%s C=%d: %" PRIu64 " messages in %.2f s = %.0f msg/s; latency p50 %.3f ms, p99 %.3f ms, "
              "p99.9 %.3f ms; tempfail %" PRIu64 ", passed %" PRIu64 ", header %" PRIu64 "; errors %" PRIu64 "\n",
              o.label.empty() ? "milter-load" : o.label.c_str(), o.mix.c_str(), o.connections, done, seconds, rate,
              p.p50_us / 1000, p.p99_us / 1000, p.p999_us / 1000, outcomes[kTempfail], outcomes[kPassed],
              outcomes[kHeader], errors);
  return errors == 0 ? 0 : 3;
}
