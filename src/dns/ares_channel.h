// The c-ares plumbing both resolvers share (AresResolver for DNS lists,
// AresRecordResolver for SPF): opening a channel on the configured servers,
// and one turn of a resolver thread's poll() loop.
#pragma once

#include <ares.h>

#include <chrono>
#include <string>
#include <vector>

#include "greylist/status.h"

namespace greylist {

// Initializes the c-ares library once per process and opens a channel on
// `servers` (--dns-server syntax, dns/dns_servers.h; empty: resolv.conf),
// each query tried twice with half of `timeout` per try. InvalidArgument
// naming a bad server; Unavailable when c-ares cannot start. The caller
// owns the channel (ares_destroy).
Result<ares_channel> open_ares_channel(const std::vector<std::string>& servers,
                                       std::chrono::milliseconds timeout);

// Waits in poll() on the channel's sockets and `wake_fd` (an eventfd, drained
// when readable) until something happens, c-ares has a timeout due, or
// `max_wait_ms` passed; then lets c-ares read, write and retry, which runs
// the query callbacks on this thread.
void wait_for_ares_events(ares_channel channel, int wake_fd, long long max_wait_ms);

}  // namespace greylist
