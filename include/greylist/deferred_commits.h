// DeferredCommits: shared commits, for a front end that can hold its replies
// (the policy server's event loops; issue 16).
//
// Normally a store's write is durable, to the degree the store is configured
// for, when the call returns (store.h). That costs one log write (crash-safe)
// or one fsync (--sync full) per write. A front end that answers many
// requests per turn of an event loop can instead share that cost:
//
//   1. Around the decisions of one turn, a Scope on the calling thread: each
//      write of this store made on that thread returns once it is committed
//      in the process (visible to every reader, not yet in the OS).
//   2. ticket() at the end of the Scope: what its replies must wait for. It
//      also covers every write of other threads that a decision may have
//      read (a committed write is visible before it is durable).
//   3. Before the replies leave: covered(ticket), else flush(), wait for its
//      completion and take its outcome(). One flush covers every write committed before it
//      began, whichever thread made it.
//
// The guarantee is the store's: no reply leaves before the writes it
// depends on are durable to the configured degree. A flush that fails, or an
// environment that failed in between (its unwritten commits are lost), makes
// the ticket fail: answer as for a store error.
//
// Thread-safety: every method from any thread. A Scope belongs to the thread
// that made it and must end on it, before that thread runs anything else
// (no co_await inside a Scope).
#pragma once

#include <cstdint>
#include <functional>

#include "greylist/status.h"

namespace greylist {

class DeferredCommits {
 public:
  // What a set of replies waits for (see ticket()).
  struct Ticket {
    std::uint64_t flush = 0;        // a flush at least this recent; 0: none needed
    std::uint64_t incarnation = 0;  // the store's failures count when the Scope began

    // One ticket for the replies of both: the later flush, the older
    // incarnation (a failure since either fails both).
    static Ticket both(const Ticket& a, const Ticket& b) {
      return {a.flush > b.flush ? a.flush : b.flush,
              a.incarnation < b.incarnation ? a.incarnation : b.incarnation};
    }
  };

  class Scope {
   public:
    // Writes of `commits`' store made on this thread are deferred until the
    // Scope ends. Scopes do not nest.
    explicit Scope(DeferredCommits& commits);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

    // What the replies decided inside this Scope must wait for. Call after
    // the last decision of the Scope.
    Ticket ticket() const { return commits_.ticket(incarnation_); }

   private:
    DeferredCommits& commits_;
    std::uint64_t incarnation_;
  };

  virtual ~DeferredCommits() = default;

  // The DeferredCommits whose Scope is open on the calling thread, or
  // nullptr (for the store: whether to defer this thread's commit).
  static const DeferredCommits* deferring_on_this_thread();

  // Whether the replies of `ticket` may leave now: true when no write they
  // depend on is waiting for a flush, or a flush covering them completed.
  // False also when the ticket failed: flush() then reports the failure.
  virtual bool covered(const Ticket& ticket) const = 0;

  // Starts a flush covering every write committed before this call and
  // calls done(status) when it has completed: ok, or why the writes are not
  // durable. With --sync crash-safe the flush is one write of the log to the
  // OS and `done` runs before flush() returns. With --sync full it is an
  // fsync by the store's flusher thread, shared by every flush() asked for
  // while it runs, and `done` runs on that thread: it must be quick and must
  // not call the store.
  virtual void flush(std::function<void(Status)> done) = 0;

  // What a ticket taken before a flush() comes to once that flush reported
  // `flushed`: Ok when it covers the ticket; the flush's failure; or
  // kUnavailable when the store's environment failed since the ticket's
  // Scope began (its unflushed commits are lost).
  Status outcome(const Ticket& ticket, const Status& flushed) const;

 protected:
  // The store's count of environment failures (each loses commits not yet
  // flushed).
  virtual std::uint64_t incarnation() const = 0;
  // Scope::ticket().
  virtual Ticket ticket(std::uint64_t incarnation) const = 0;
};

}  // namespace greylist
