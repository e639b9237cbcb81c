// HeldReplies: the replies of one policy event loop that wait for their
// decisions' writes to become durable (shared commits, issue 16;
// greylist/deferred_commits.h).
//
// A connection decides its requests inside a DeferredCommits::Scope, then
// awaits wait(ticket) before writing the replies. Every connection of the
// loop that waits in the same turn of the loop shares one flush: the first
// posts it, the flush runs after the handlers already queued (the other
// connections that were ready), and it releases them all. With --sync
// crash-safe the flush is a write to the OS on the loop's thread; with
// --sync full the store's flusher thread does the fsync and the loop goes
// on serving meanwhile: it never waits for the disk.
//
// One per loop; wait() only from coroutines running on that loop. Destroy
// it before the loop's io_context: the destructor waits for the flushes it
// started (they post their results to the loop).
#pragma once

#include <utility>  // boost/asio/awaitable.hpp uses std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "greylist/deferred_commits.h"
#include "greylist/status.h"

namespace greylist {

class HeldReplies {
 public:
  // `loop` and `commits` must outlive this.
  HeldReplies(boost::asio::io_context& loop, DeferredCommits& commits);
  ~HeldReplies();
  HeldReplies(const HeldReplies&) = delete;
  HeldReplies& operator=(const HeldReplies&) = delete;

  DeferredCommits& commits() const { return commits_; }

  // Ok at once when the ticket is covered already (nothing written, or
  // another flush covered it); else after the loop's next flush: Ok, or the
  // flush's failure (the replies must then not claim what was decided).
  boost::asio::awaitable<Status> wait(DeferredCommits::Ticket ticket);

 private:
  struct Held {
    DeferredCommits::Ticket ticket;
    std::function<void(Status)> resume;
  };
  void hold(Held held);
  // Posted once per turn: one flush for every reply held so far.
  void flush_held();
  void flushed(std::vector<Held> batch, const Status& status);

  boost::asio::io_context& loop_;
  DeferredCommits& commits_;
  std::vector<Held> held_;  // loop thread only
  bool flush_posted_ = false;

  std::mutex mutex_;
  std::condition_variable idle_;
  unsigned flushing_ = 0;  // flushes started and not reported back yet
};

}  // namespace greylist
