#include "daemon/service_manager.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace greylist {

void notify_ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping"); }

void notify_reloading() { sd_notify(0, "STATUS=reloading the configuration and the whitelists"); }

void notify_status(const std::string& status) { sd_notify(0, ("STATUS=" + status).c_str()); }

std::optional<std::chrono::milliseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(usec / 2000);
}

void notify_watchdog() { sd_notify(0, "WATCHDOG=1"); }

}  // namespace greylist
