// libmilter_session_wait: a libmilter worker keeps its milter connection
// while the MTA's next command is on its way.
//
// Why: Debian's libmilter is built with its worker pool (_FFR_WORKERS_POOL).
// After each reply a worker waits only 1 ms for the connection's next
// command (its mi_rd_socket_ready: poll() on the one socket, timeout 1 ms);
// when none has arrived it hands the connection back to the pool's
// controller thread, which adds it to its poll() set through a pipe and, when
// the command arrives, wakes a worker for it. Postfix's next command comes
// after an SMTP round trip with the client, so on a busy machine nearly every
// command of a session paid that hand-off: a pipe write and read, a timer
// wake-up and three thread wake-ups instead of one (about 15 context
// switches and 50 poll() calls per message through Postfix, measured in
// bench/analysis.md, "Milter through Postfix: where the CPU goes").
//
// The fix: that one wait lasts kSessionWait instead of 1 ms. A command that
// comes within it is read by the same worker, woken once by the kernel; a
// slower one is handed to the controller as before. The cost is a worker
// thread blocked (not running) for up to kSessionWait per idle connection,
// the thread-per-connection model of libmilter without the pool.
//
// How: as libmilter_quickack.h, the static libmilter.a is linked with its
// poll() calls renamed to greylist_libmilter_poll
// (src/milter/libmilter/meson.build). libmilter calls poll() in four
// places; only the readiness check asks for one descriptor with a 1 ms
// timeout (the others wait seconds: a command's read, the listener, the
// controller), and only that call is changed.
#pragma once

#include <chrono>

struct pollfd;

namespace greylist {

inline constexpr std::chrono::milliseconds kSessionWait{50};

}  // namespace greylist

// libmilter's poll(2): the same call, except that the worker's 1 ms
// readiness check on one descriptor waits up to kSessionWait. Result and
// errno are poll's.
extern "C" int greylist_libmilter_poll(struct pollfd* fds, unsigned long count, int timeout_ms);
