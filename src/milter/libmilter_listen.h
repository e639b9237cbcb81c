// libmilter_listen: a small TCP segment size on the milter's listening
// socket, so that Postfix keeps small buffers for its milter connections.
//
// Why: Postfix sizes the stream buffers of a milter connection over TCP
// from the connection's MSS (vstream_tweak_tcp(): four times the MSS when
// that exceeds a quarter of its 4 KB default, to avoid Nagle delays with
// bulk data). Loopback's MTU is 64 KB, so on 127.0.0.1 each of smtpd's and
// cleanup's milter streams got two buffers of about 256 KB, allocated,
// filled with 0xff when freed (Postfix's myfree() shreds memory) and faulted
// in anew for every SMTP session: most of what a TCP milter cost Postfix
// more than a unix-socket one (bench/analysis.md, "Milter through Postfix:
// where the CPU goes"). The milter protocol as this milter negotiates it
// (no headers, no body) never sends anything near 1 KB in one packet.
//
// The fix: the listening socket gets TCP_MAXSEG kMilterMss before it
// listens; accepted connections inherit it, the SYN-ACK advertises it, and
// Postfix's side then reports an MSS below 1 KB and keeps its 4 KB buffers.
// Longer packets (a hostile 60 KB HELO) still work, in several segments.
//
// How: as libmilter_quickack.h, the static libmilter.a is linked with its
// listen() renamed to greylist_libmilter_listen
// (src/milter/libmilter/meson.build); libmilter calls it once, for the
// socket smfi_opensocket() binds.
#pragma once

namespace greylist {

// Below 1024 once the TCP timestamp option (12 bytes) is taken off, which is
// what Postfix compares with a quarter of its 4096-byte buffer.
inline constexpr int kMilterMss = 1024;

}  // namespace greylist

// libmilter's listen(2): for a TCP socket (IPv4 or IPv6), TCP_MAXSEG
// kMilterMss first (a failure there is ignored: the milter works as
// before); then listen(2), whose result and errno are returned.
extern "C" int greylist_libmilter_listen(int fd, int backlog);
