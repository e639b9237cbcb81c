#include "milter/libmilter_quickack.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace greylist {
namespace {

std::atomic<bool> quickack_on{false};

// TCP_QUICKACK on `fd` when on; errno left as it was.
void rearm(int fd) {
  if (!quickack_on.load(std::memory_order_relaxed)) return;
  const int saved_errno = errno;
  const int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  errno = saved_errno;
}

}  // namespace

void set_libmilter_quickack(bool on) { quickack_on.store(on, std::memory_order_relaxed); }

}  // namespace greylist

extern "C" ssize_t greylist_libmilter_read(int fd, void* buffer, std::size_t size) {
  const ssize_t n = ::read(fd, buffer, size);
  if (n > 0) greylist::rearm(fd);
  return n;
}

extern "C" ssize_t greylist_libmilter_writev(int fd, const struct iovec* iov, int count) {
  const ssize_t n = ::writev(fd, iov, count);
  if (n > 0) greylist::rearm(fd);
  return n;
}
