// libmilter glue: one plain function per callback, each a thin, exception-
// proof wrapper around MilterSession (milter_session.h).
//
// libmilter keeps its filter, its listening socket and its stop flag in
// globals, and smfi_main() can run once per process: hence one
// MilterServer per process, reached from the callbacks through registry().
#include "milter/milter_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmilter/mfapi.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "greylist/log_line.h"
#include "milter/libmilter_quickack.h"
#include "milter/milter_session.h"
#include "util/log.h"
#include "util/unix_socket_file.h"

namespace greylist {
namespace {

class LibmilterServer;

// What the callbacks reach: the live server, and how many callbacks are
// using it (the destructor waits for them).
struct Registry {
  std::mutex mutex;
  std::condition_variable idle;
  LibmilterServer* server = nullptr;
  unsigned active_callbacks = 0;
  bool server_exists = false;  // a MilterServer object exists
  bool main_ran = false;       // smfi_main() was entered: it cannot run again
  // --on-error for a RCPT that arrives while no server is live (shutdown).
  std::atomic<OnError> on_error{OnError::kAccept};
};

// Never destroyed: libmilter's session threads may still call in while the
// process exits.
Registry& registry() {
  static Registry* const instance = new Registry;
  return *instance;
}

constexpr std::chrono::milliseconds kCallbackDrainTimeout{1500};
constexpr std::chrono::milliseconds kPokeInterval{20};
constexpr int kMaxPokes = 150;  // 3 s: libmilter's own check interval is 5 s

// Pins the live server for the duration of one callback.
class CallbackScope {
 public:
  CallbackScope() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    server_ = r.server;
    if (server_ != nullptr) ++r.active_callbacks;
  }
  ~CallbackScope() {
    if (server_ == nullptr) return;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (--r.active_callbacks == 0) r.idle.notify_all();
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

  LibmilterServer* server() const { return server_; }

 private:
  LibmilterServer* server_ = nullptr;
};

MilterSession* session_of(SMFICTX* ctx) { return static_cast<MilterSession*>(smfi_getpriv(ctx)); }

void delete_session(SMFICTX* ctx) {
  delete session_of(ctx);
  smfi_setpriv(ctx, nullptr);
}

// The macro's value, "" when the MTA did not send it.
std::string_view symbol(SMFICTX* ctx, const char* name) {
  const char* value = smfi_getsymval(ctx, const_cast<char*>(name));
  return value != nullptr ? std::string_view(value) : std::string_view();
}

std::optional<IpAddress> address_of(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, address, sizeof in);
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
    return IpAddress::v4(bytes);
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof in6);
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    return IpAddress::v6(bytes);
  }
  return std::nullopt;  // AF_UNIX or unknown: a local client
}

sfsistat answer_rcpt(SMFICTX* ctx, const RcptReply& reply) {
  if (!reply.tempfail && !reply.reject) return SMFIS_CONTINUE;
  if (smfi_setreply(ctx, const_cast<char*>(reply.code.c_str()),
                    const_cast<char*>(reply.enhanced_code.c_str()),
                    const_cast<char*>(reply.text.c_str())) != MI_SUCCESS) {
    // The text is already escaped and cut; this only fails on a bad code.
    log_warning("milter: smfi_setreply refused '" + printable(reply.code + " " +
                reply.enhanced_code + " " + reply.text) + "'; the MTA uses its default text");
  }
  return reply.reject ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

sfsistat rcpt_fallback(SMFICTX* ctx) {
  try {
    return answer_rcpt(ctx, rcpt_reply_on_error(registry().on_error.load()));
  } catch (...) {
    return SMFIS_TEMPFAIL;  // out of memory: the safe side
  }
}

sfsistat continue_fallback(SMFICTX*) { return SMFIS_CONTINUE; }

// CONNECT, HELO and MAIL are always negotiated without a reply (see
// on_negotiate): their callbacks, fallbacks included, answer SMFIS_NOREPLY,
// which libmilter turns into a "continue" for an MTA that does not offer it.
sfsistat no_reply_fallback(SMFICTX*) { return SMFIS_NOREPLY; }

// Runs `body` with the live server; on no server or any exception, logs
// and answers with `fallback`. Nothing escapes into libmilter's C code.
template <typename Body, typename Fallback>
sfsistat guarded(SMFICTX* ctx, const char* stage, Body&& body, Fallback&& fallback) {
  try {
    CallbackScope scope;
    if (scope.server() == nullptr) return fallback(ctx);
    return body(*scope.server());
  } catch (const std::exception& e) {
    try {
      log_error(std::string("milter ") + stage + ": " + e.what());
    } catch (...) {
    }
  } catch (...) {
    try {
      log_error(std::string("milter ") + stage + ": unknown exception");
    } catch (...) {
    }
  }
  return fallback(ctx);
}

class LibmilterServer final : public MilterServer {
 public:
  LibmilterServer(MilterContext context, std::optional<sockaddr_storage> poke_address,
                  socklen_t poke_length, std::optional<UnixSocketFile> socket_file)
      : context_(std::make_shared<const MilterContext>(std::move(context))),
        poke_address_(poke_address),
        poke_length_(poke_length),
        socket_file_(std::move(socket_file)) {}
  ~LibmilterServer() override;

  void run() override;
  void stop() override;

  Status set_replies(const MilterSettings& settings) override;

  // What a connection beginning now is answered with.
  std::shared_ptr<const MilterContext> context() const { return std::atomic_load(&context_); }

 private:
  void poke_listener() const;

  // Accessed with atomic_load/store (set_replies()).
  std::shared_ptr<const MilterContext> context_;
  // Where the listener can be reached from here, to wake it on stop().
  const std::optional<sockaddr_storage> poke_address_;
  const socklen_t poke_length_;
  // A unix socket's file, removed by the destructor while it is still ours
  // (libmilter removes it only when not running as root). Not before:
  // stop() wakes the listener through it.
  const std::optional<UnixSocketFile> socket_file_;
  std::mutex stop_mutex_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  std::atomic<bool> finished_{false};
};

// ---- libmilter callbacks -------------------------------------------------

// Steps Postfix need not send: headers, body, end of headers, DATA,
// unknown commands. Only bits the MTA offers, or libmilter gives up.
constexpr unsigned long kSkipSteps =
    SMFIP_NOHDRS | SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_NODATA | SMFIP_NOUNKNOWN;

// Steps answered by no reply: CONNECT, HELO and MAIL only gather the
// request and always continue, so Postfix need not wait for them (milter
// protocol 6; three round trips fewer per SMTP session). Asked for whether
// or not the MTA offers them: libmilter (8.14 and later) then answers
// "continue" for the milter, which is why the callbacks can always return
// SMFIS_NOREPLY. RCPT and end of message keep their replies (decisions,
// the X-Greylist header).
constexpr unsigned long kNoReplySteps = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL;

// Macros per stage (smfi_setsymlist). Postfix replaces an empty list with
// its default (milter_connect_macros, milter_helo_macros: five macros for
// CONNECT), so the stages that need none ask for "i", the queue id, which
// Postfix does not know yet at CONNECT and HELO: their macro packets carry
// nothing. MAIL: the queue id (when known) and SMTP AUTH's user; RCPT and
// end of message: the queue id.
struct MacroList {
  int stage;
  const char* names;
};
constexpr MacroList kMacroLists[] = {
    {SMFIM_CONNECT, "i"}, {SMFIM_HELO, "i"}, {SMFIM_ENVFROM, "i {auth_authen}"},
    {SMFIM_ENVRCPT, "i"}, {SMFIM_EOM, "i"},
};

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long,
                      unsigned long, unsigned long* want_actions, unsigned long* want_steps,
                      unsigned long* want_f2, unsigned long* want_f3) {
  // Set before anything that may throw: the callbacks rely on kNoReplySteps.
  *want_steps = (steps & kSkipSteps) | kNoReplySteps;
  // Add headers; choose our macros where the MTA lets us.
  *want_actions = actions & (SMFIF_ADDHDRS | SMFIF_SETSYMLIST);
  *want_f2 = 0;
  *want_f3 = 0;
  if ((actions & SMFIF_SETSYMLIST) != 0) {
    for (const MacroList& list : kMacroLists) {
      smfi_setsymlist(ctx, list.stage, const_cast<char*>(list.names));
    }
  }
  try {
    if ((actions & SMFIF_ADDHDRS) == 0) {
      log_warning("milter: the MTA does not let milters add headers: no X-Greylist header");
    }
  } catch (...) {
  }
  return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) {
  return guarded(
      ctx, "connect",
      [&](LibmilterServer& server) {
        // A session left over means a new connection on the same context
        // without close (not expected from libmilter): start over.
        delete_session(ctx);
        auto session = std::make_unique<MilterSession>(server.context());
        session->connect(hostname != nullptr ? hostname : "", address_of(hostaddr));
        log_debug("milter: connect from " + printable(session->client_name()) + "[" +
                  printable(session->client_address()) + "]" +
                  (session->skip_reason().empty() ? "" : ", not greylisted: " + session->skip_reason()));
        smfi_setpriv(ctx, session.release());
        return SMFIS_NOREPLY;
      },
      no_reply_fallback);
}

sfsistat on_helo(SMFICTX* ctx, char* helo_name) {
  return guarded(
      ctx, "helo",
      [&](LibmilterServer&) {
        if (MilterSession* session = session_of(ctx)) session->helo(helo_name != nullptr ? helo_name : "");
        return SMFIS_NOREPLY;
      },
      no_reply_fallback);
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
  return guarded(
      ctx, "envfrom",
      [&](LibmilterServer&) {
        if (MilterSession* session = session_of(ctx)) {
          session->mail_from(argv != nullptr && argv[0] != nullptr ? argv[0] : "",
                             symbol(ctx, "{auth_authen}"));
          session->set_queue_id(symbol(ctx, "i"));
        }
        return SMFIS_NOREPLY;
      },
      no_reply_fallback);
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
  return guarded(
      ctx, "envrcpt",
      [&](LibmilterServer&) {
        MilterSession* session = session_of(ctx);
        if (session == nullptr) {
          log_warning("milter: RCPT without connection information; answering by --on-error");
          return rcpt_fallback(ctx);
        }
        if (const auto queue_id = symbol(ctx, "i"); !queue_id.empty()) session->set_queue_id(queue_id);
        return answer_rcpt(ctx, session->rcpt_to(argv != nullptr && argv[0] != nullptr ? argv[0] : ""));
      },
      rcpt_fallback);
}

sfsistat on_eom(SMFICTX* ctx) {
  return guarded(
      ctx, "eom",
      [&](LibmilterServer&) {
        MilterSession* session = session_of(ctx);
        if (session == nullptr) return SMFIS_CONTINUE;
        if (const auto queue_id = symbol(ctx, "i"); !queue_id.empty()) session->set_queue_id(queue_id);
        const auto header = session->end_of_message();
        if (header && smfi_insheader(ctx, 0, const_cast<char*>(header->name.c_str()),
                                     const_cast<char*>(header->value.c_str())) != MI_SUCCESS) {
          log_warning("milter: could not insert the " + printable(header->name) + " header");
        }
        return SMFIS_CONTINUE;
      },
      continue_fallback);
}

sfsistat on_abort(SMFICTX* ctx) {
  return guarded(
      ctx, "abort",
      [&](LibmilterServer&) {
        if (MilterSession* session = session_of(ctx)) session->abort();
        return SMFIS_CONTINUE;
      },
      continue_fallback);
}

// Frees the connection's state even when no server is live any more.
sfsistat on_close(SMFICTX* ctx) {
  try {
    delete_session(ctx);
  } catch (...) {
  }
  return SMFIS_CONTINUE;
}

// ---- server --------------------------------------------------------------

LibmilterServer::~LibmilterServer() {
  stop();
  if (socket_file_) {
    if (Status removed = socket_file_->remove_if_ours(); !removed.ok()) {
      log_warning("milter: " + removed.message());
    }
  }
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  r.server = nullptr;
  set_libmilter_quickack(false);
  if (!r.idle.wait_for(lock, kCallbackDrainTimeout, [&] { return r.active_callbacks == 0; })) {
    log_error("milter: callbacks still running at shutdown");
  }
  r.server_exists = false;
}

void LibmilterServer::run() {
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    if (r.main_ran) {
      log_error("milter: run() called twice; libmilter serves once per process");
      return;
    }
    r.main_ran = true;
  }
  running_ = true;
  if (!stop_requested_) {
    std::optional<MilterConnectionGuard> guard;
    const auto opened = context();  // its socket and limits never change
    if (opened->settings.socket.kind == SocketSpec::Kind::kInet) {
      guard.emplace(opened->settings.socket.port, opened->settings.limits);
    }
    if (smfi_main() != MI_SUCCESS) log_error("milter: libmilter's listener failed");
  }
  finished_ = true;
  if (!stop_requested_) {
    // libmilter's listener failed (its signal thread never stops it: see
    // milter_server.h).
    log_error("milter: libmilter stopped on its own (listener error)");
  }
}

void LibmilterServer::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stop_requested_.exchange(true)) return;
  // smfi_stop() sets libmilter's stop flag, then waits for the listener's
  // lock, which the listener holds in select() for up to 5 s: connecting to
  // the socket wakes it at once.
  std::thread stopper([] { smfi_stop(); });
  for (int i = 0; i < kMaxPokes && running_ && !finished_; ++i) {
    poke_listener();
    std::this_thread::sleep_for(kPokeInterval);
  }
  stopper.join();
}

void LibmilterServer::poke_listener() const {
  if (!poke_address_) return;
  const auto* address = reinterpret_cast<const sockaddr*>(&*poke_address_);
  const int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (connect(fd, address, poke_length_) != 0 && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    (void)poll(&pfd, 1, 100);
  }
  close(fd);
}

// The listener's address as seen from this host, for poke_listener().
std::optional<sockaddr_storage> poke_address_for(const SocketSpec& spec, socklen_t& length) {
  sockaddr_storage storage{};
  if (spec.kind == SocketSpec::Kind::kUnix) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    if (spec.path.size() >= sizeof un.sun_path) return std::nullopt;
    std::memcpy(un.sun_path, spec.path.c_str(), spec.path.size() + 1);
    std::memcpy(&storage, &un, sizeof un);
    length = sizeof un;
    return storage;
  }
  const bool v6 = spec.host.find(':') != std::string::npos;
  std::string host = spec.host;
  if (host == "0.0.0.0" || host == "*") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_family = v6 ? AF_INET6 : AF_INET;  // as libmilter's inet:/inet6: binds
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(spec.port);
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  std::memcpy(&storage, found->ai_addr, found->ai_addrlen);
  length = found->ai_addrlen;
  freeaddrinfo(found);
  return storage;
}

// Whether something accepts connections at the inet socket `spec` (the
// reason libmilter could not bind it; libmilter's errno is not reliable).
bool someone_listens(const SocketSpec& spec) {
  socklen_t length = 0;
  const auto address = spec.kind == SocketSpec::Kind::kInet ? poke_address_for(spec, length)
                                                            : std::nullopt;
  if (!address) return false;
  const int fd = socket(address->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool connected = connect(fd, reinterpret_cast<const sockaddr*>(&*address), length) == 0;
  close(fd);
  return connected;
}

// Why the milter socket cannot be bound, for the start-up error. Port 8891,
// the default, is also OpenDKIM's customary port.
std::string listen_failure(const SocketSpec& spec, int error) {
  std::string message = "cannot listen on " + spec.to_string();
  if (someone_listens(spec)) {
    message += ": port " + std::to_string(spec.port) + " is in use";
    message += spec.port == 8891 ? " \u2014 by OpenDKIM?" : ";";
    return message + " set --milter (another port, a unix socket, or none)";
  }
  return message + (error != 0 ? std::string(": ") + std::strerror(error) : std::string());
}

// Registers the filter's callbacks with libmilter and opens its listening
// socket (libmilter binds it; the mode of a unix socket is set here, and
// its file noted in `file`). A stale unix socket is removed first, a live
// one refused: libmilter's own removal would take it from a running daemon.
Status register_and_listen(const SocketSpec& spec, const MilterSettings& settings,
                           std::optional<UnixSocketFile>& file) {
  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("greylist-milter");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = SMFIF_ADDHDRS;
  desc.xxfi_connect = on_connect;
  desc.xxfi_helo = on_helo;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_envrcpt = on_envrcpt;
  desc.xxfi_eom = on_eom;
  desc.xxfi_abort = on_abort;
  desc.xxfi_close = on_close;
  desc.xxfi_negotiate = on_negotiate;
  if (smfi_register(desc) != MI_SUCCESS) {
    return Status::IoError("libmilter refused to register the filter");
  }
  std::string conn = spec.to_libmilter();
  if (smfi_setconn(conn.data()) != MI_SUCCESS) {
    return Status::InvalidArgument("libmilter refused the socket " + spec.to_string());
  }
  smfi_settimeout(static_cast<int>(settings.timeout.count()));
  if (settings.listen_backlog > 0) smfi_setbacklog(settings.listen_backlog);
  const bool unix_socket = spec.kind == SocketSpec::Kind::kUnix;
  if (unix_socket) {
    if (Status cleared = UnixSocketFile::clear_stale(spec.path, spec.to_string()); !cleared.ok()) {
      return Status::Unavailable(cleared.message());
    }
  }
  errno = 0;
  if (smfi_opensocket(false) != MI_SUCCESS) {
    const int error = errno;
    return Status::Unavailable(listen_failure(spec, error));
  }
  if (!unix_socket) return Status::Ok();
  file = UnixSocketFile::created(spec.path);
  if (chmod(spec.path.c_str(), static_cast<mode_t>(settings.socket_mode)) != 0) {
    log_warning("milter: cannot chmod " + spec.path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Status LibmilterServer::set_replies(const MilterSettings& settings) {
  const auto current = context();
  MilterSettings next = current->settings;
  next.common = settings.common;
  next.common.dns = current->settings.common.dns;  // the resolver is open()'s
  next.common.spf = current->settings.common.spf;  // the SPF checker too
  next.reply_code = settings.reply_code;
  next.enhanced_code = settings.enhanced_code;
  next.header_always = settings.header_always;
  auto context = make_milter_context(std::move(next), *current->greylister, *current->clock);
  if (!context.ok()) return context.status();
  registry().on_error = settings.common.on_error;
  std::atomic_store(&context_,
                    std::make_shared<const MilterContext>(std::move(context).value()));
  return Status::Ok();
}

Result<std::unique_ptr<MilterServer>> MilterServer::open(MilterSettings settings,
                                                         const Greylister& greylister,
                                                         const Clock& clock) {
  if (settings.socket.kind == SocketSpec::Kind::kNone) {
    return Status::InvalidArgument("milter socket is 'none': the milter front end is off");
  }
  if (settings.timeout.count() < 1) {
    return Status::InvalidArgument("milter timeout must be at least 1 second");
  }
  auto context = make_milter_context(std::move(settings), greylister, clock);
  if (!context.ok()) return context.status();
  const SocketSpec spec = context.value().settings.socket;
  const OnError on_error = context.value().settings.common.on_error;

  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (r.server_exists || r.main_ran) {
      return Status::InvalidArgument("libmilter serves one milter per process; one already exists");
    }
    r.server_exists = true;
  }
  auto release = [&r] {
    std::lock_guard lock(r.mutex);
    r.server_exists = false;
  };

  std::optional<UnixSocketFile> socket_file;
  if (Status opened = register_and_listen(spec, context.value().settings, socket_file);
      !opened.ok()) {
    release();
    return opened;
  }

  socklen_t poke_length = 0;
  const auto poke_address = poke_address_for(spec, poke_length);
  auto server = std::make_unique<LibmilterServer>(std::move(context).value(), poke_address,
                                                  poke_length, std::move(socket_file));
  {
    std::lock_guard lock(r.mutex);
    r.server = server.get();
    r.on_error = on_error;
  }
  // Over TCP, libmilter's reads re-arm quick ACKs: Postfix's unanswered
  // macro packets would otherwise cost 40 ms each (libmilter_quickack.h).
  set_libmilter_quickack(spec.kind == SocketSpec::Kind::kInet);
  return std::unique_ptr<MilterServer>(std::move(server));
}

}  // namespace greylist
