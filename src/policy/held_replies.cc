#include "policy/held_replies.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <utility>

namespace greylist {

namespace asio = boost::asio;

HeldReplies::HeldReplies(asio::io_context& loop, DeferredCommits& commits)
    : loop_(loop), commits_(commits) {}

HeldReplies::~HeldReplies() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return flushing_ == 0; });
}

asio::awaitable<Status> HeldReplies::wait(DeferredCommits::Ticket ticket) {
  if (commits_.covered(ticket)) co_return Status::Ok();
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Status)>(
      [this, ticket](auto handler) {
        // std::function needs a copyable target; the coroutine's handler is
        // move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        hold({ticket, [shared](Status status) { (*shared)(std::move(status)); }});
      },
      asio::use_awaitable);
}

void HeldReplies::hold(Held held) {
  held_.push_back(std::move(held));
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(loop_, [this] { flush_held(); });
}

void HeldReplies::flush_held() {
  flush_posted_ = false;
  auto batch = std::make_shared<std::vector<Held>>(std::move(held_));
  held_.clear();
  {
    std::lock_guard lock(mutex_);
    ++flushing_;
  }
  // Inline (crash-safe) or on the store's flusher thread (full); either way
  // the replies resume on the loop, after this handler.
  commits_.flush([this, batch](const Status& status) { flushed(std::move(*batch), status); });
}

void HeldReplies::flushed(std::vector<Held> batch, const Status& status) {
  for (Held& held : batch) {
    asio::post(loop_, [resume = std::move(held.resume),
                       outcome = commits_.outcome(held.ticket, status)]() { resume(outcome); });
  }
  std::lock_guard lock(mutex_);
  --flushing_;
  idle_.notify_all();
}

}  // namespace greylist
