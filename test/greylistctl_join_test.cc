// BdbStore's join mode (BdbOptions::Sharing::kJoinIfBusy), which greylistctl
// uses to work on the directory of a running daemon: a forked "daemon"
// process owns the store while this process joins it, reads what the daemon
// wrote, writes and deletes, and the daemon sees the result; recovery never
// runs while a tool is attached; a second daemon is still refused.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <db_cxx.h>

#include "store/bdb_store.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace greylist {
namespace {

using namespace std::chrono_literals;

BdbOptions options_for(const std::string& dir, BdbOptions::Sharing sharing) {
  BdbOptions options;
  options.directory = dir;
  options.cache_bytes = 1024 * 1024;
  options.checkpoint_interval = std::chrono::seconds(0);
  options.sharing = sharing;
  return options;
}

// One byte over a pipe, waited for at most `timeout`; 0 on timeout or EOF.
char read_byte(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return 0;
  char c = 0;
  return ::read(fd, &c, 1) == 1 ? c : 0;
}

void write_byte(int fd, char c) { REQUIRE(::write(fd, &c, 1) == 1); }

// A forked process playing the daemon: it owns the store in `dir` until
// told to quit, and answers questions about what it sees. Every wait is
// bounded; the destructor kills it if it is still there.
class ForkedStoreOwner {
 public:
  explicit ForkedStoreOwner(const std::string& dir) {
    int down[2];
    int up[2];
    REQUIRE(::pipe(down) == 0);
    REQUIRE(::pipe(up) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      ::_exit(run(dir, down[0], up[1]));
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  ~ForkedStoreOwner() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(to_child_);
    ::close(from_child_);
  }
  ForkedStoreOwner(const ForkedStoreOwner&) = delete;
  ForkedStoreOwner& operator=(const ForkedStoreOwner&) = delete;

  // 'R' once it has opened the store and written its entries.
  char started() { return read_byte(from_child_, 20s); }
  // Asks a question (one byte); returns the one-byte answer.
  char ask(char question) {
    write_byte(to_child_, question);
    return read_byte(from_child_, 20s);
  }
  // Tells it to close the store and exit; its exit status (-1: no exit).
  int quit() {
    write_byte(to_child_, 'Q');
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(10ms);
    }
  }

 private:
  // The child: never returns to doctest.
  static int run(const std::string& dir, int in, int out) {
    auto opened = BdbStore::open(options_for(dir, BdbOptions::Sharing::kExclusive));
    if (!opened.ok() || opened.value()->joined()) return 10;
    BdbStore& store = *opened.value();
    if (!store.put(Table::kTriplets, "t:keep", "kept", 0).ok()) return 11;
    if (!store.put(Table::kTriplets, "t:gone", "to be deleted", 0).ok()) return 12;
    const auto answer = [&](char c) { return ::write(out, &c, 1) == 1; };
    if (!answer('R')) return 13;
    for (;;) {
      const char question = read_byte(in, 30s);
      if (question == 'Q' || question == 0) break;
      bool yes = false;
      if (question == 'g') {  // is t:gone gone?
        auto got = store.get(Table::kTriplets, "t:gone");
        yes = got.ok() && !got.value();
      } else if (question == 'n') {  // does it see the tool's write?
        auto got = store.get(Table::kTriplets, "t:new");
        yes = got.ok() && got.value() && *got.value() == "from the tool";
      } else if (question == 'w') {  // writes once more
        yes = store.put(Table::kClients, "c:late", "after the join", 0).ok();
      }
      if (!answer(yes ? 'Y' : 'N')) return 14;
    }
    opened.value().reset();
    return 0;
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int to_child_ = -1;
  int from_child_ = -1;
};

std::optional<std::string> must_get(Store& store, Table table, std::string_view key) {
  auto got = store.get(table, key);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  return got.value();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_SUITE("greylistctl_join") {

TEST_CASE("a tool joins a running daemon's store: reads its entries, its writes and deletes are seen") {
  const testing::TempDir dir("greylistctl-join");
  ForkedStoreOwner daemon(dir.path());
  REQUIRE(daemon.started() == 'R');

  auto joined = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(joined.ok(), joined.status().message());
  BdbStore& tool = *joined.value();
  CHECK(tool.joined());
  CHECK(must_get(tool, Table::kTriplets, "t:keep") == "kept");
  CHECK(must_get(tool, Table::kTriplets, "t:gone") == "to be deleted");

  REQUIRE(tool.erase(Table::kTriplets, "t:gone").ok());
  REQUIRE(tool.put(Table::kTriplets, "t:new", "from the tool", 0).ok());
  CHECK(daemon.ask('g') == 'Y');  // the daemon no longer sees the deleted entry
  CHECK(daemon.ask('n') == 'Y');  // and sees the tool's write
  CHECK(daemon.ask('w') == 'Y');
  CHECK(must_get(tool, Table::kClients, "c:late") == "after the join");

  auto scanned = tool.scan(Table::kTriplets, "", 10);
  REQUIRE(scanned.ok());
  REQUIRE(scanned.value().size() == 2);
  CHECK(scanned.value()[0].key == "t:keep");
  CHECK(scanned.value()[1].key == "t:new");
  auto counted = tool.count(Table::kTriplets);
  REQUIRE(counted.ok());
  CHECK(counted.value() == 2);

  CHECK(daemon.quit() == 0);
  // The tool outlives the daemon and goes on working.
  CHECK(must_get(tool, Table::kTriplets, "t:new") == "from the tool");
  joined.value().reset();

  // Everything is in the files: a new owner (with recovery) finds it.
  auto owner = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_MESSAGE(owner.ok(), owner.status().message());
  CHECK_FALSE(owner.value()->joined());
  CHECK(must_get(*owner.value(), Table::kTriplets, "t:keep") == "kept");
  CHECK_FALSE(must_get(*owner.value(), Table::kTriplets, "t:gone"));
  CHECK(must_get(*owner.value(), Table::kTriplets, "t:new") == "from the tool");
  CHECK(must_get(*owner.value(), Table::kClients, "c:late") == "after the join");
}

TEST_CASE("a tool killed while it holds a write lock: the daemon neither hangs nor loses data") {
  // greylistctl SIGKILLed (or OOM-killed) in the middle of a transaction
  // leaves its locks in the shared environment; the daemon must not wait
  // for them for ever.
  const testing::TempDir dir("greylistctl-join");
  auto opened = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  BdbStore& daemon = *opened.value();
  REQUIRE(daemon.put(Table::kTriplets, "t:keep", "kept", 0).ok());
  REQUIRE(daemon.put(Table::kTriplets, "t:other", "other", 0).ok());

  int up[2];
  REQUIRE(::pipe(up) == 0);
  const pid_t tool = ::fork();
  REQUIRE(tool >= 0);
  if (tool == 0) {
    // The tool: joins the environment and dies (SIGKILL from the parent)
    // inside a transaction that holds the write lock of the page of
    // "t:keep", as greylistctl delete or import would.
    ::close(up[0]);
    DbEnv env(DB_CXX_NO_EXCEPTIONS);
    if (env.open(dir.path().c_str(), DB_JOINENV | DB_THREAD, 0) != 0) ::_exit(10);
    Db db(&env, DB_CXX_NO_EXCEPTIONS);
    if (db.open(nullptr, "triplets.db", nullptr, DB_BTREE, DB_AUTO_COMMIT | DB_THREAD, 0) != 0) {
      ::_exit(12);
    }
    DbTxn* txn = nullptr;
    if (env.txn_begin(nullptr, &txn, 0) != 0) ::_exit(13);
    std::string key = "t:keep";
    Dbt k(key.data(), static_cast<u_int32_t>(key.size()));
    Dbt data;
    data.set_flags(DB_DBT_MALLOC);
    if (db.get(txn, &k, &data, DB_RMW) != 0) ::_exit(14);
    const char c = 'L';
    (void)::write(up[1], &c, 1);
    ::sleep(60);
    ::_exit(11);
  }
  ::close(up[1]);
  const char locked = read_byte(up[0], 20s);
  ::close(up[0]);
  ::kill(tool, SIGKILL);
  ::waitpid(tool, nullptr, 0);
  REQUIRE(locked == 'L');

  // The daemon's calls, in a thread given 10 s: the first waits for the
  // dead tool's lock (one lock timeout), failchk releases it and aborts the
  // tool's transaction; nothing the tool did remains.
  struct Seen {
    bool keep_read = false, other_written = false, other_read = false;
  };
  auto result = std::make_shared<std::promise<Seen>>();
  auto done = result->get_future();
  const auto started = std::chrono::steady_clock::now();
  std::thread calls([result, &daemon] {
    Seen seen;
    auto keep = daemon.get(Table::kTriplets, "t:keep");
    seen.keep_read = keep.ok() && keep.value() == std::optional<std::string>("kept");
    seen.other_written = daemon.put(Table::kTriplets, "t:other", "changed", 0).ok();
    auto other = daemon.get(Table::kTriplets, "t:other");
    seen.other_read = other.ok() && other.value() == std::optional<std::string>("changed");
    result->set_value(seen);
  });
  if (done.wait_for(10s) != std::future_status::ready) {
    FAIL_CHECK("the daemon still waits for the dead tool's lock after 10 s");
    calls.detach();
    (void)opened.value().release();  // the hung thread still uses it
    return;
  }
  calls.join();
  const Seen seen = done.get();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  MESSAGE("figure: the daemon served again after " << waited << " s");
  CHECK(seen.keep_read);
  CHECK(seen.other_written);
  CHECK(seen.other_read);
  CHECK(waited < 3.0);
}

TEST_CASE("a second daemon is still refused at once, with or without a tool attached") {
  const testing::TempDir dir("greylistctl-join");
  ForkedStoreOwner daemon(dir.path());
  REQUIRE(daemon.started() == 'R');
  const std::string in_use = "database directory " + dir.path() +
                             " is in use by another process (lock file " + dir.path() +
                             "/greylist-milter.lock)";

  auto second = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Status::Code::kUnavailable);
  CHECK(second.status().message() == in_use);

  auto tool = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(tool.ok(), tool.status().message());
  auto options = options_for(dir.path(), BdbOptions::Sharing::kExclusive);
  options.gate_timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  auto third = BdbStore::open(options);
  REQUIRE_FALSE(third.ok());
  CHECK(third.status().message() == in_use);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(daemon.quit() == 0);
}

TEST_CASE("a daemon starting while a tool is still attached waits for it, bounded, then recovers") {
  const testing::TempDir dir("greylistctl-join");
  ForkedStoreOwner daemon(dir.path());
  REQUIRE(daemon.started() == 'R');
  auto tool = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(tool.ok(), tool.status().message());
  CHECK(daemon.quit() == 0);

  // Recovery would pull the regions from under the attached tool: refused
  // after the wait, naming the reason.
  auto options = options_for(dir.path(), BdbOptions::Sharing::kExclusive);
  options.gate_timeout = 300ms;
  auto blocked = BdbStore::open(options);
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.status().code() == Status::Code::kUnavailable);
  CHECK(contains(blocked.status().message(), "still in use by a tool such as greylistctl"));
  CHECK(contains(blocked.status().message(), "greylist-milter.users.lock"));

  // A tool leaving during the wait lets the daemon in.
  std::thread leaving([&] {
    std::this_thread::sleep_for(200ms);
    tool.value().reset();
  });
  options.gate_timeout = 10s;
  auto owner = BdbStore::open(options);
  leaving.join();
  REQUIRE_MESSAGE(owner.ok(), owner.status().message());
  CHECK(must_get(*owner.value(), Table::kTriplets, "t:keep") == "kept");
}

TEST_CASE("with nobody in the directory a tool owns it (with recovery) and keeps the daemon out") {
  const testing::TempDir dir("greylistctl-join");
  auto tool = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(tool.ok(), tool.status().message());
  CHECK_FALSE(tool.value()->joined());
  REQUIRE(tool.value()->put(Table::kTriplets, "t:a", "1", 0).ok());

  auto daemon = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_FALSE(daemon.ok());
  CHECK(contains(daemon.status().message(), "is in use by another process"));

  // A second tool joins the first.
  auto second = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(second.ok(), second.status().message());
  CHECK(second.value()->joined());
  CHECK(must_get(*second.value(), Table::kTriplets, "t:a") == "1");
  second.value().reset();
  tool.value().reset();

  auto owner = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_MESSAGE(owner.ok(), owner.status().message());
  CHECK(must_get(*owner.value(), Table::kTriplets, "t:a") == "1");
}

TEST_CASE("the owner's region files are fully allocated, never sparse") {
  const testing::TempDir dir("greylistctl-join");
  auto owner = BdbStore::open(options_for(dir.path(), BdbOptions::Sharing::kExclusive));
  REQUIRE_MESSAGE(owner.ok(), owner.status().message());
  int regions = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("__db.", 0) != 0) continue;
    ++regions;
    struct stat st {};
    REQUIRE(::stat(entry.path().c_str(), &st) == 0);
    // Allocated blocks (512-byte units) cover the whole size.
    CHECK(st.st_blocks * 512 >= st.st_size);
  }
  CHECK(regions > 0);
}

TEST_CASE("an owner on a file system too small for region files stays private; a tool is told") {
  const testing::TempDir dir("greylistctl-join");
  const std::string small = dir.path() + "/small";
  REQUIRE(::mkdir(small.c_str(), 0700) == 0);
  if (::mount("tmpfs", small.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") != 0) {
    MESSAGE("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): skipped");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  {
    ForkedStoreOwner daemon(small);
    REQUIRE(daemon.started() == 'R');
    int regions = 0;
    for (const auto& entry : std::filesystem::directory_iterator(small)) {
      regions += entry.path().filename().string().rfind("__db.", 0) == 0 ? 1 : 0;
    }
    CHECK(regions == 0);  // in the daemon's memory
    auto tool = BdbStore::open(options_for(small, BdbOptions::Sharing::kJoinIfBusy));
    REQUIRE_FALSE(tool.ok());
    CHECK(tool.status().code() == Status::Code::kUnavailable);
    CHECK(contains(tool.status().message(), "keeps its environment private"));
    CHECK(daemon.ask('w') == 'Y');  // the daemon is unharmed
    CHECK(daemon.quit() == 0);
  }
  // Stopped, the tool opens the directory itself.
  auto tool = BdbStore::open(options_for(small, BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_MESSAGE(tool.ok(), tool.status().message());
  CHECK_FALSE(tool.value()->joined());
  CHECK(must_get(*tool.value(), Table::kClients, "c:late") == "after the join");
}

TEST_CASE("joining a directory nobody owns that a tool may not use fails cleanly") {
  const testing::TempDir dir("greylistctl-join");
  auto missing = BdbStore::open(
      options_for(dir.path() + "/does-not-exist", BdbOptions::Sharing::kJoinIfBusy));
  REQUIRE_FALSE(missing.ok());
  CHECK(contains(missing.status().message(), "does not exist"));
}

}  // TEST_SUITE

}  // namespace greylist
