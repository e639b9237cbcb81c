// AresWorker: the thread both c-ares resolvers run on (AresResolver for DNS
// lists, AresRecordResolver for SPF). It owns a c-ares channel on the
// configured servers and an eventfd; its loop waits in poll() on both,
// lets c-ares read, write and retry (which runs the query callbacks on the
// worker thread), and calls the owner's hooks in between.
#pragma once

#include <ares.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "greylist/status.h"

namespace greylist {

class AresWorker {
 public:
  // Called on the worker thread, in this order each turn of the loop.
  struct Hooks {
    // How long the loop may wait at most (the nearest deadline of the
    // owner's lookups), in milliseconds.
    std::function<long long()> next_deadline_ms;
    // Starts the lookups queued since the last turn; true when the owner
    // is stopping (then the loop ends: c-ares' queries are cancelled and
    // `drain` runs).
    std::function<bool()> start_queued;
    // Ends the lookups whose deadline has passed.
    std::function<void()> expire;
    // After the loop: finishes whatever is still pending.
    std::function<void()> drain;
  };

  AresWorker() = default;
  // Joins the thread (the owner made start_queued() return true and
  // called wake() first), then closes the channel and the eventfd.
  ~AresWorker();
  AresWorker(const AresWorker&) = delete;
  AresWorker& operator=(const AresWorker&) = delete;

  // Initializes the c-ares library once per process, opens the channel on
  // `servers` (--dns-server syntax, dns/dns_servers.h; empty: resolv.conf),
  // each query tried twice with half of `timeout` per try, and starts the
  // thread. InvalidArgument naming a bad server; Unavailable when c-ares or
  // the eventfd cannot be had.
  Status start(const std::vector<std::string>& servers, std::chrono::milliseconds timeout, Hooks hooks);

  // Wakes the loop (any thread).
  void wake() const;
  // Waits for the thread to end (the owner is stopping and woke it).
  void join();

  // For ares_query() on the worker thread.
  ares_channel channel() const { return channel_; }
  // The servers the channel asks, as c-ares has them after start() (from
  // `servers` or resolv.conf): "127.0.0.1:53,[2001:db8::1]:5353" ("none"
  // when it has none). Set by start() before the thread runs; any thread.
  const std::string& servers() const { return servers_; }

 private:
  void loop();

  Hooks hooks_;
  ares_channel channel_ = nullptr;
  std::string servers_;
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace greylist
