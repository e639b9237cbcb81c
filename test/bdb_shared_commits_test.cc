// BdbSharedCommits (greylist/deferred_commits.h): inside a Scope a write is
// committed without reaching the OS; a flush makes it (and every earlier
// one) survive kill -9; tickets say which replies may leave.
#include "store/bdb_shared_commits.h"
#include "store/bdb_store.h"
#include "support/temp_dir.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <optional>
#include <string>
#include <thread>

namespace greylist {
namespace {

using Verdict = UpdateOutcome::Verdict;

BdbOptions options_for(const std::string& dir, BdbOptions::Sync sync) {
  BdbOptions options;
  options.directory = dir;
  options.cache_bytes = 1024 * 1024;
  options.sync = sync;
  options.checkpoint_interval = std::chrono::seconds(0);
  return options;
}

std::unique_ptr<BdbStore> must_open(const BdbOptions& options) {
  auto opened = BdbStore::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  return std::move(opened).value();
}

Status write(Store& store, const std::string& key, const std::string& value) {
  return store.update(Table::kTriplets, key, [&](std::optional<std::string>& v) {
    v = value;
    return UpdateOutcome{Verdict::kWrite, 0};
  });
}

// flush() and its result, waiting at most 10 s for the flusher thread.
Status flush_and_wait(DeferredCommits& commits) {
  std::promise<Status> result;
  auto done = result.get_future();
  commits.flush([&result](Status status) { result.set_value(std::move(status)); });
  REQUIRE(done.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return done.get();
}

// In a child process: writes key inside a Scope, flushes when asked, tells
// the parent (one byte) and waits to be killed. The parent then reopens
// the directory (recovery) and says whether the key survived.
bool survives_kill(const std::string& dir, BdbOptions::Sync sync, bool flush) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto opened = BdbStore::open(options_for(dir, sync));
    if (!opened.ok()) ::_exit(2);
    DeferredCommits& commits = *opened.value()->deferred_commits();
    {
      DeferredCommits::Scope scope(commits);
      if (!write(*opened.value(), "deferred", "value").ok()) ::_exit(3);
    }
    if (flush) {
      std::promise<Status> result;
      commits.flush([&result](Status status) { result.set_value(std::move(status)); });
      if (!result.get_future().get().ok()) ::_exit(4);
    }
    if (::write(fds[1], "w", 1) != 1) ::_exit(5);
    for (;;) ::pause();
  }
  ::close(fds[1]);
  char byte = 0;
  const bool reported = ::read(fds[0], &byte, 1) == 1;
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE_MESSAGE(reported, "child exit status " << WEXITSTATUS(status));
  auto store = must_open(options_for(dir, sync));
  auto got = store->get(Table::kTriplets, "deferred");
  REQUIRE(got.ok());
  return got.value().has_value();
}

}  // namespace

TEST_SUITE("bdb_store") {

TEST_CASE("shared commits: a deferred write survives kill -9 only once flushed") {
  for (const auto sync : {BdbOptions::Sync::kCrashSafe, BdbOptions::Sync::kFull}) {
    CAPTURE(static_cast<int>(sync));
    {
      testing::TempDir dir{"bdb-shared-commits"};
      // Not flushed: the record was still in the process (this is what
      // makes the flush the thing that counts).
      CHECK_FALSE(survives_kill(dir.path(), sync, /*flush=*/false));
    }
    testing::TempDir dir{"bdb-shared-commits"};
    CHECK(survives_kill(dir.path(), sync, /*flush=*/true));
  }
}

TEST_CASE("shared commits: tickets ask for a flush only when a write is pending") {
  for (const auto sync : {BdbOptions::Sync::kCrashSafe, BdbOptions::Sync::kFull}) {
    CAPTURE(static_cast<int>(sync));
    testing::TempDir dir{"bdb-shared-commits"};
    auto store = must_open(options_for(dir.path(), sync));
    DeferredCommits& commits = *store->deferred_commits();
    CHECK(DeferredCommits::deferring_on_this_thread() == nullptr);

    // Reads only: nothing to wait for.
    DeferredCommits::Ticket read_only;
    {
      DeferredCommits::Scope scope(commits);
      CHECK(DeferredCommits::deferring_on_this_thread() == &commits);
      REQUIRE(store->get(Table::kTriplets, "absent").ok());
      read_only = scope.ticket();
    }
    CHECK(DeferredCommits::deferring_on_this_thread() == nullptr);
    CHECK(read_only.flush == 0);
    CHECK(commits.covered(read_only));

    // A write: held until a flush; a read by another thread of that write
    // must wait for the same flush.
    DeferredCommits::Ticket written;
    {
      DeferredCommits::Scope scope(commits);
      REQUIRE(write(*store, "k", "v").ok());
      written = scope.ticket();
    }
    CHECK(written.flush != 0);
    CHECK_FALSE(commits.covered(written));
    DeferredCommits::Ticket reader;
    std::thread([&] {
      DeferredCommits::Scope scope(commits);
      REQUIRE(store->get(Table::kTriplets, "k").value() == "v");
      reader = scope.ticket();
    }).join();
    CHECK_FALSE(commits.covered(reader));

    const Status flushed = flush_and_wait(commits);
    REQUIRE_MESSAGE(flushed.ok(), flushed.message());
    CHECK(commits.covered(written));
    CHECK(commits.covered(reader));
    CHECK(commits.outcome(written, flushed).ok());
    CHECK(commits.outcome(written, Status::IoError("disk")).code() == Status::Code::kIoError);

    // Nothing pending any more: the next read-only ticket needs no flush.
    DeferredCommits::Scope scope(commits);
    CHECK(scope.ticket().flush == 0);
  }
}

TEST_CASE("shared commits: a ticket of an older incarnation is never covered") {
  testing::TempDir dir{"bdb-shared-commits"};
  auto store = must_open(options_for(dir.path(), BdbOptions::Sync::kCrashSafe));
  DeferredCommits& commits = *store->deferred_commits();
  DeferredCommits::Ticket ticket;
  {
    DeferredCommits::Scope scope(commits);
    REQUIRE(write(*store, "k", "v").ok());
    ticket = scope.ticket();
  }
  const Status flushed = flush_and_wait(commits);
  REQUIRE(flushed.ok());
  CHECK(commits.covered(ticket));
  // What a failure in between looks like to the ticket (the environment's
  // failure count moved on): never covered, the outcome an error.
  DeferredCommits::Ticket stale = ticket;
  stale.incarnation += 1;
  CHECK_FALSE(commits.covered(stale));
  CHECK(commits.outcome(stale, flushed).code() == Status::Code::kUnavailable);
  // Both tickets' replies wait for the later flush and fail with the older.
  const auto both = DeferredCommits::Ticket::both(ticket, {ticket.flush + 5, ticket.incarnation + 1});
  CHECK(both.flush == ticket.flush + 5);
  CHECK(both.incarnation == ticket.incarnation);
}

TEST_CASE("shared commits: writes outside a Scope are durable on return") {
  testing::TempDir dir{"bdb-shared-commits"};
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto opened = BdbStore::open(options_for(dir.path(), BdbOptions::Sync::kCrashSafe));
    if (!opened.ok() || !write(*opened.value(), "plain", "value").ok()) ::_exit(2);
    ::raise(SIGKILL);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  auto store = must_open(options_for(dir.path(), BdbOptions::Sync::kCrashSafe));
  CHECK(store->get(Table::kTriplets, "plain").value() == "value");
}

}  // TEST_SUITE

}  // namespace greylist
