#include "milter/libmilter_session_wait.h"

#include <poll.h>

namespace {

// libmilter's mi_rd_socket_ready: poll(&pfd, 1, MI_RD_CMD_TO) with
// MI_RD_CMD_TO 1 (engine.c, libmilter 8.14 to 8.18).
constexpr int kReadinessTimeoutMs = 1;

}  // namespace

extern "C" int greylist_libmilter_poll(struct pollfd* fds, unsigned long count, int timeout_ms) {
  if (count == 1 && timeout_ms == kReadinessTimeoutMs) {
    timeout_ms = static_cast<int>(greylist::kSessionWait.count());
  }
  return ::poll(fds, static_cast<nfds_t>(count), timeout_ms);
}
