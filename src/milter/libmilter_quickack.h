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
// The fix: after every successful read libmilter makes, the connection is
// put back into quick-ACK mode (setsockopt TCP_QUICKACK), which also sends
// at once an ACK the kernel was holding for data just read. Linux leaves
// quick-ACK mode again by itself when the filter next sends, hence the
// re-arming on every read.
//
// How: libmilter does not expose its sockets, so the build links Debian's
// static libmilter.a with its `read` calls renamed to
// greylist_libmilter_read (objcopy --redefine-sym; src/milter/libmilter/
// meson.build). The interposition is contained: only libmilter's own code
// calls it, never another library nor this project's code. libmilter's
// reads are its milter connections and, in its worker pool, a wake-up pipe
// (the setsockopt there fails with ENOTSOCK and is ignored).
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace greylist {

// Turns the re-arming on (the milter listens on TCP) or off (a unix socket:
// nothing to do). Thread-safe; off at start.
void set_libmilter_quickack(bool on);

}  // namespace greylist

// libmilter's read(2): read(2), then, when on and something was read,
// TCP_QUICKACK on `fd`. errno and the result are read(2)'s.
extern "C" ssize_t greylist_libmilter_read(int fd, void* buffer, std::size_t size);
