// libmilter_quickack: immediate ACKs on the milter's TCP connections.
//
// Why: Postfix sends some milter packets that get no reply, e.g. the macros
// of a stage the milter asked not to see (the {i} macro of DATA, "DT", sent
// although the milter negotiated SMFIP_NODATA). Postfix's next packet is a
// small write on a socket without TCP_NODELAY, so Nagle's algorithm holds it
// until that first packet is acknowledged; the milter's kernel, seeing an
// interactive (request/reply) connection, delays that ACK by its delayed-ACK
// timer (40 ms on Linux) hoping to piggyback it on a reply that never comes.
// Every message loses 40 ms (bench/analysis.md, "Milter over TCP: the
// delayed-ACK stall"). A unix socket has neither Nagle nor ACKs.
//
// The fix: after every successful read and write libmilter makes on a
// milter connection, the connection is put back into quick-ACK mode
// (setsockopt TCP_QUICKACK). Linux leaves that mode by itself whenever the
// filter answers soon after receiving, hence the re-arming each time:
//   - after a write (a reply), so that the kernel acknowledges the MTA's
//     next packet as it arrives, without waiting for a libmilter thread to
//     be scheduled (on a busy machine that takes milliseconds);
//   - after a read, which also sends at once an ACK the kernel was still
//     holding for the data just read (when the kernel's budget of quick
//     ACKs for the connection has run out).
//
// How: libmilter does not expose its sockets, so the build links Debian's
// static libmilter.a with its `read` and `writev` calls renamed to
// greylist_libmilter_read and greylist_libmilter_writev (objcopy
// --redefine-sym; src/milter/libmilter/meson.build). The interposition is
// contained: only libmilter's own code calls them, never another library
// nor this project's code. libmilter reads its milter connections and, in
// its worker pool, a wake-up pipe (there the setsockopt fails with
// ENOTSOCK, ignored); it writes replies with writev and nothing else.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace greylist {

// Turns the re-arming on (the milter listens on TCP) or off (a unix socket:
// nothing to do). Thread-safe; off at start.
void set_libmilter_quickack(bool on);

}  // namespace greylist

struct iovec;

// libmilter's read(2) and writev(2): the call, then, when on and something
// was read or written, TCP_QUICKACK on `fd`. errno and the result are the
// call's.
extern "C" ssize_t greylist_libmilter_read(int fd, void* buffer, std::size_t size);
extern "C" ssize_t greylist_libmilter_writev(int fd, const struct iovec* iov, int count);
