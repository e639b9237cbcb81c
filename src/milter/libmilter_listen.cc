#include "milter/libmilter_listen.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

namespace {

bool is_tcp(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
  return address.ss_family == AF_INET || address.ss_family == AF_INET6;
}

}  // namespace

extern "C" int greylist_libmilter_listen(int fd, int backlog) {
  if (is_tcp(fd)) {
    const int saved_errno = errno;
    const int mss = greylist::kMilterMss;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    errno = saved_errno;
  }
  return ::listen(fd, backlog);
}
