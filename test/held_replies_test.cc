// HeldReplies through a running PolicyServer: a decision that wrote is
// answered only once a flush covered it; one that wrote nothing at once; a
// failed flush gives --on-error's reply. A gated DeferredCommits stands in
// for the store's, so the test decides when a flush completes.
#include "policy/held_replies.h"

#include <doctest/doctest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "greylist/greylister.h"
#include "policy/policy_server.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"
#include "support/forwarding_store.h"
#include "support/line_client.h"
#include "support/loopback_policy_server.h"

namespace greylist {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::LineClient;

// Tickets need a flush when a write was made inside a Scope since the last
// completed one; flushes complete when the test says.
class GatedCommits final : public DeferredCommits {
 public:
  void wrote() { pending_ = true; }
  bool covered(const Ticket& ticket) const override {
    std::lock_guard lock(mutex_);
    return ticket.flush == 0 || completed_ >= ticket.flush;
  }
  void flush(std::function<void(Status)> done) override {
    std::lock_guard lock(mutex_);
    waiting_.push_back({next_++, std::move(done)});
  }
  std::size_t flushes_asked() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
  }
  // Completes every flush asked for so far with `status`.
  void complete(const Status& status) {
    std::vector<std::pair<std::uint64_t, std::function<void(Status)>>> waiting;
    {
      std::lock_guard lock(mutex_);
      waiting.swap(waiting_);
      for (const auto& entry : waiting) {
        if (status.ok()) completed_ = std::max(completed_, entry.first);
      }
    }
    for (auto& entry : waiting) entry.second(status);
  }

 protected:
  std::uint64_t incarnation() const override { return 0; }
  Ticket ticket(std::uint64_t incarnation) const override {
    std::lock_guard lock(mutex_);
    return {pending_.exchange(false) ? next_ : 0, incarnation};
  }

 private:
  mutable std::mutex mutex_;
  mutable std::atomic<bool> pending_{false};
  std::uint64_t next_ = 1;
  std::uint64_t completed_ = 0;
  std::vector<std::pair<std::uint64_t, std::function<void(Status)>>> waiting_;
};

// A MemoryStore that tells the gate about writes made inside its Scope.
class GatedStore final : public testing::ForwardingStore {
 public:
  explicit GatedStore(GatedCommits& gate) : ForwardingStore(memory_), gate_(gate) {}
  Status update(Table t, std::string_view k, const UpdateFunction& fn) override {
    if (DeferredCommits::deferring_on_this_thread() == &gate_) gate_.wrote();
    return ForwardingStore::update(t, k, fn);
  }
  DeferredCommits* deferred_commits() override { return &gate_; }

 private:
  MemoryStore memory_;  // constructed before the base uses it (only in calls)
  GatedCommits& gate_;
};

GreylistConfig one_delay() {
  GreylistConfig config;
  config.dynamic_delay = 0;
  return config;
}

std::string rcpt(const std::string& sender) {
  return "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.7\n"
         "client_name=mail.example.test\nsender=" + sender + "\nrecipient=b@example.org\n";
}

struct Server {
  GatedCommits gate;
  GatedStore store{gate};
  FakeClock clock{1'795'590'188};
  Greylister greylister{one_delay(), store, clock};
  testing::LoopbackPolicyServer server{{}, greylister, clock, 2, store.deferred_commits()};

  ~Server() { gate.complete(Status::Ok()); }  // nothing stays held at the stop
  // Until the server asked for a flush (at most 1 s): how many it asked for.
  std::size_t wait_for_a_flush() const {
    for (int i = 0; i < 200 && gate.flushes_asked() == 0; ++i) std::this_thread::sleep_for(5ms);
    return gate.flushes_asked();
  }
  int port() const { return server.port(); }
};

}  // namespace

TEST_SUITE("held_replies") {

TEST_CASE("a reply whose decision wrote leaves only once a flush covered it") {
  Server s;
  LineClient client(s.port());
  REQUIRE(client.ok());
  REQUIRE(client.send(rcpt("a@example.net") + "\n"));
  // Held: the flush was asked for, the reply does not come.
  CHECK(s.wait_for_a_flush() == 1);
  CHECK_FALSE(client.read_until("\n\n", 300ms).has_value());
  s.gate.complete(Status::Ok());
  const auto reply = client.read_until("\n\n", 5s);
  REQUIRE(reply.has_value());
  CHECK(reply->rfind("action=DEFER_IF_PERMIT", 0) == 0);
}

TEST_CASE("a reply that wrote nothing is not held; pipelined requests share one flush") {
  Server s;
  LineClient client(s.port());
  REQUIRE(client.ok());
  // Not a decision (another stage): nothing written, answered at once.
  REQUIRE(client.send("request=smtpd_access_policy\nprotocol_state=DATA\n\n"));
  CHECK(client.read_until("\n\n", 5s) == "action=DUNNO\n\n");
  CHECK(s.gate.flushes_asked() == 0);
  // Three requests in one write: one flush, three replies after it.
  REQUIRE(client.send(rcpt("1@example.net") + "\n" + rcpt("2@example.net") + "\n" +
                      rcpt("3@example.net") + "\n"));
  CHECK(s.wait_for_a_flush() == 1);
  CHECK_FALSE(client.read_until("\n\n", 200ms).has_value());
  s.gate.complete(Status::Ok());
  for (int i = 0; i < 3; ++i) {
    const auto reply = client.read_until("\n\n", 5s);
    REQUIRE(reply.has_value());
    CHECK(reply->rfind("action=DEFER_IF_PERMIT", 0) == 0);
  }
}

TEST_CASE("a flush that fails: the held replies are --on-error's") {
  Server s;
  LineClient client(s.port());
  REQUIRE(client.ok());
  REQUIRE(client.send(rcpt("a@example.net") + "\n"));
  REQUIRE(s.wait_for_a_flush() == 1);
  s.gate.complete(Status::IoError("disk full"));
  CHECK(client.read_until("\n\n", 5s) == "action=DUNNO\n\n");  // --on-error accept
}

}  // TEST_SUITE

}  // namespace greylist
