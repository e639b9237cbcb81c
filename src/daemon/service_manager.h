// Talking to systemd (sd_notify): readiness, status, watchdog. Every call is
// a no-op when the daemon was not started by systemd with Type=notify.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace greylist {

void notify_ready(const std::string& status);
void notify_stopping();
void notify_reloading();
void notify_status(const std::string& status);
// How often to send watchdog keep-alives (half the configured WatchdogSec),
// nullopt when the watchdog is off.
std::optional<std::chrono::milliseconds> watchdog_interval();
void notify_watchdog();

}  // namespace greylist
