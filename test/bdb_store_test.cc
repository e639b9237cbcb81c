// BdbStore beyond the Store contract: files on disk, reopening, the
// directory lock, open errors, recovery after kill -9, checkpoints and log
// removal. The contract itself is in store_contract_test.cc.
#include "store/bdb_store.h"
#include "support/temp_dir.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace greylist {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using Verdict = UpdateOutcome::Verdict;

BdbOptions options_for(const std::string& dir) {
  BdbOptions options;
  options.directory = dir;
  options.cache_bytes = 1024 * 1024;
  return options;
}

std::unique_ptr<BdbStore> must_open(const BdbOptions& options) {
  auto opened = BdbStore::open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().message());
  return std::move(opened).value();
}

std::optional<std::string> must_get(Store& store, Table table, std::string_view key) {
  auto got = store.get(table, key);
  REQUIRE_MESSAGE(got.ok(), got.status().message());
  return got.value();
}

int count_log_files(const std::string& dir) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("log.", 0) == 0) ++n;
  }
  return n;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The value the crash test's child writes under key number i: binary, and of
// varying length so that pages split while the child is being killed.
std::string crash_value(int round, int i) {
  std::string value = "v\0"s + std::to_string(round) + ":" + std::to_string(i) + "\xff";
  value.resize(value.size() + static_cast<std::size_t>((i * 37) % 1500), static_cast<char>(i));
  return value;
}

std::string crash_key(int round, int i) {
  char key[32];
  std::snprintf(key, sizeof key, "crash-%d-%04d", round, i);
  return key;
}

constexpr int kCrashWrites = 200;
constexpr std::size_t kReportBytes = 64;  // fixed size, < PIPE_BUF: atomic writes

// The child of the crash test: opens the store, then for each i increments a
// counter and writes key i, reporting i on the pipe once its update returned.
// Never returns; exits 0 only if it finished every write (it should be
// killed long before).
[[noreturn]] void crash_child(const std::string& dir, int round, int report_fd) {
  auto opened = BdbStore::open(options_for(dir));
  if (!opened.ok()) ::_exit(2);
  BdbStore& store = *opened.value();
  for (int i = 0; i < kCrashWrites; ++i) {
    const Status counted = store.update(Table::kClients, "crash-counter-" + std::to_string(round),
                                        [](std::optional<std::string>& v) {
                                          v = std::to_string(v ? std::stoi(*v) + 1 : 1);
                                          return UpdateOutcome{Verdict::kWrite, 0};
                                        });
    const std::string value = crash_value(round, i);
    const Status written = store.update(Table::kTriplets, crash_key(round, i),
                                        [&](std::optional<std::string>& v) {
                                          v = value;
                                          return UpdateOutcome{Verdict::kWrite, 0};
                                        });
    if (!counted.ok() || !written.ok()) ::_exit(3);
    char report[kReportBytes] = {};
    std::snprintf(report, sizeof report, "%d\n", i);
    if (::write(report_fd, report, sizeof report) != static_cast<ssize_t>(sizeof report)) {
      ::_exit(4);
    }
  }
  ::_exit(0);  // no clean close either way: the parent checks the exit status
}

// Runs one round: forks the writer, SIGKILLs it after a random number of
// reports, returns the indices it reported (in order).
std::vector<int> run_and_kill_writer(const std::string& dir, int round, std::mt19937& random) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  // A small pipe keeps the child at most ~64 writes ahead of the reader, so
  // it is certainly still writing when it is killed.
  ::fcntl(fds[1], F_SETPIPE_SZ, 4096);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    crash_child(dir, round, fds[1]);
  }
  ::close(fds[1]);

  const int kill_after = std::uniform_int_distribution<int>(1, 110)(random);
  const int extra_delay_us = std::uniform_int_distribution<int>(0, 2000)(random);
  std::vector<int> reported;
  std::string pending;
  bool killed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (!killed && static_cast<int>(reported.size()) >= kill_after) {
      std::this_thread::sleep_for(std::chrono::microseconds(extra_delay_us));
      ::kill(pid, SIGKILL);
      killed = true;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      FAIL("the writer child produced no report for 30 s");
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child is gone
    pending.append(buf, static_cast<std::size_t>(n));
    while (pending.size() >= kReportBytes) {
      reported.push_back(std::atoi(pending.c_str()));
      pending.erase(0, kReportBytes);
    }
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  // Killed, not finished or failed: the kill hit a writing process.
  CHECK_MESSAGE(WIFSIGNALED(status), "child exit status " << WEXITSTATUS(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(pending.empty());  // reports are written whole
  return reported;
}

bool have_db_verify() { return std::system("command -v db5.3_verify >/dev/null 2>&1") == 0; }

// Verifies a database file of a closed store. The environment's region files
// are removed first: db5.3_verify would otherwise join the environment and
// read the pages still held in its (file-backed) cache instead of the disk.
int run_db_verify(const std::string& dir, const char* file, bool expect_errors = false) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("__db.", 0) == 0) fs::remove(entry.path());
  }
  const std::string command =
      "db5.3_verify -q -h '" + dir + "' " + file + (expect_errors ? " 2>/dev/null" : "");
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Opens `dir` in a child process running as `uid` (and gid), returns the
// error message (empty if the open succeeded).
std::string open_error_as(const std::string& dir, uid_t uid) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (uid != ::geteuid() &&
        (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0)) {
      ::_exit(2);
    }
    auto opened = BdbStore::open(options_for(dir));
    const std::string message = opened.ok() ? "" : opened.status().message();
    if (::write(fds[1], message.data(), message.size()) < 0) ::_exit(3);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return message;
}

TEST_SUITE("bdb_store") {

TEST_CASE("data survives close and reopen; every file is created 0600") {
  testing::TempDir dir{"bdb-store-test"};
  const std::string big(20000, '\xab');
  {
    auto store = must_open(options_for(dir.path()));
    CHECK(std::string(store->name()) == "bdb");
    CHECK(store->directory() == dir.path());
    REQUIRE(store->put(Table::kTriplets, "t\0key"s, "t\0value"s, 0).ok());
    REQUIRE(store->put(Table::kTriplets, "gone", "soon", 0).ok());
    REQUIRE(store->erase(Table::kTriplets, "gone").ok());
    REQUIRE(store->put(Table::kClients, "c", big, 0).ok());
    REQUIRE(store->update(Table::kClients, "u", [](std::optional<std::string>& v) {
      v = "updated";
      return UpdateOutcome{Verdict::kWrite, 0};
    }).ok());
  }
  CHECK(fs::exists(fs::path(dir.path()) / "triplets.db"));
  CHECK(fs::exists(fs::path(dir.path()) / "clients.db"));
  CHECK(fs::exists(fs::path(dir.path()) / "greylist-milter.lock"));
  CHECK(count_log_files(dir.path()) >= 1);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (!entry.is_regular_file()) continue;
    const auto perms = entry.status().permissions();
    CHECK_MESSAGE((perms & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none,
                  entry.path().string() << " is readable or writable by others");
  }

  auto store = must_open(options_for(dir.path()));
  CHECK(must_get(*store, Table::kTriplets, "t\0key"s) == "t\0value"s);
  CHECK_FALSE(must_get(*store, Table::kTriplets, "gone").has_value());
  CHECK(must_get(*store, Table::kClients, "c") == big);
  CHECK(must_get(*store, Table::kClients, "u") == "updated");
  CHECK(store->count(Table::kTriplets).value() == 1);
  CHECK(store->count(Table::kClients).value() == 2);
}

TEST_CASE("Sync::kFull stores and reopens like kCrashSafe") {
  testing::TempDir dir{"bdb-store-test"};
  BdbOptions options = options_for(dir.path());
  options.sync = BdbOptions::Sync::kFull;
  {
    auto store = must_open(options);
    for (int i = 0; i < 20; ++i) {
      REQUIRE(store->put(Table::kTriplets, "k" + std::to_string(i), std::to_string(i), 0).ok());
    }
  }
  auto store = must_open(options);
  CHECK(store->count(Table::kTriplets).value() == 20);
  CHECK(must_get(*store, Table::kTriplets, "k19") == "19");
}

TEST_CASE("a second open of a directory in use fails and leaves the first intact") {
  testing::TempDir dir{"bdb-store-test"};
  BdbOptions options = options_for(dir.path());
  options.checkpoint_interval = std::chrono::seconds(0);  // no thread: the test forks
  auto first = must_open(options);
  REQUIRE(first->put(Table::kTriplets, "k", "v", 0).ok());

  auto second = BdbStore::open(options);
  REQUIRE_FALSE(second.ok());
  const std::string& message = second.status().message();
  CHECK(second.status().code() == Status::Code::kUnavailable);
  CHECK(message == "database directory " + dir.path() + " is in use by another process (lock file " +
                       dir.path() + "/greylist-milter.lock)");

  // From another process too (flock is per open file, so this is the case
  // of a second daemon).
  CHECK(contains(open_error_as(dir.path(), ::geteuid()), "is in use by another process"));

  // The failed opens did not disturb the first store (no recovery ran under it).
  CHECK(must_get(*first, Table::kTriplets, "k") == "v");
  REQUIRE(first->put(Table::kTriplets, "k2", "v2", 0).ok());
  first.reset();

  // Released on close.
  auto third = must_open(options);
  CHECK(must_get(*third, Table::kTriplets, "k2") == "v2");
}

TEST_CASE("open fails with the directory named when it cannot be used") {
  testing::TempDir dir{"bdb-store-test"};

  SUBCASE("nonexistent directory") {
    const std::string missing = dir.path() + "/missing";
    auto opened = BdbStore::open(options_for(missing));
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().message() == "database directory " + missing + " does not exist");
    CHECK_FALSE(fs::exists(missing));  // and it was not created
  }
  SUBCASE("a regular file") {
    const std::string file = dir.path() + "/file";
    std::ofstream(file) << "x";
    auto opened = BdbStore::open(options_for(file));
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().message() == "database directory " + file + " is not a directory");
  }
  SUBCASE("an empty directory name") {
    auto opened = BdbStore::open(options_for(""));
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().code() == Status::Code::kInvalidArgument);
  }
  SUBCASE("a read-only directory") {
    // Tests often run as root, whom permission bits do not stop. Then the
    // open runs in a child that drops to uid/gid 65534 ("nobody"), so the
    // 0500 mode does apply; as another user the mode applies directly.
    const std::string readonly = dir.path() + "/readonly";
    REQUIRE(::mkdir(readonly.c_str(), 0500) == 0);
    REQUIRE(::chmod(readonly.c_str(), 0555) == 0);  // any user may look, nobody may write
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    const uid_t uid = ::geteuid() == 0 ? 65534 : ::geteuid();
    const std::string message = open_error_as(readonly, uid);
    CHECK(contains(message, "database directory " + readonly + " is not writable"));
    CHECK_FALSE(fs::exists(readonly + "/greylist-milter.lock"));
  }
  SUBCASE("a database file that is not a Berkeley DB file") {
    {
      std::ofstream garbage(dir.path() + "/triplets.db", std::ios::binary);
      garbage << "this is not a database\n";
    }
    auto opened = BdbStore::open(options_for(dir.path()));
    REQUIRE_FALSE(opened.ok());
    CHECK(contains(opened.status().message(), dir.path()));
    CHECK(contains(opened.status().message(), "triplets.db"));
    // The lock was released: a fixed directory opens.
    fs::remove(dir.path() + "/triplets.db");
    CHECK(BdbStore::open(options_for(dir.path())).ok());
  }
}

TEST_CASE("kill -9 while writing loses no committed update; recovery leaves valid files") {
  testing::TempDir dir{"bdb-store-test"};
  std::mt19937 random(std::random_device{}());
  constexpr int kRounds = 3;
  std::map<int, int> reported_per_round;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    const std::vector<int> reported = run_and_kill_writer(dir.path(), round, random);
    REQUIRE(!reported.empty());
    reported_per_round[round] = static_cast<int>(reported.size());
    for (std::size_t i = 0; i < reported.size(); ++i) {
      REQUIRE(reported[i] == static_cast<int>(i));  // in order, none missing
    }
    CHECK(static_cast<int>(reported.size()) < kCrashWrites);

    // Reopening runs recovery.
    auto store = must_open(options_for(dir.path()));
    const int n = static_cast<int>(reported.size());
    for (int i = 0; i < n; ++i) {
      const auto value = must_get(*store, Table::kTriplets, crash_key(round, i));
      REQUIRE_MESSAGE(value.has_value(), "reported key " << crash_key(round, i) << " lost");
      CHECK(*value == crash_value(round, i));
    }
    // At most the one update in flight when the kill came is there beyond
    // the reported ones, and nothing half-written.
    auto rest = store->scan(Table::kTriplets, crash_key(round, n - 1), 1000);
    REQUIRE(rest.ok());
    int extra = 0;
    for (const auto& e : rest.value()) {
      if (e.key.rfind("crash-" + std::to_string(round) + "-", 0) != 0) continue;
      CHECK(e.key == crash_key(round, n));
      CHECK(e.value == crash_value(round, n));
      ++extra;
    }
    CHECK(extra <= 1);
    const auto counter = must_get(*store, Table::kClients, "crash-counter-" + std::to_string(round));
    REQUIRE(counter.has_value());
    const int counted = std::stoi(*counter);
    CHECK(counted >= n);
    CHECK(counted <= n + 1);
    // Earlier rounds are still all there.
    for (const auto& [r, count] : reported_per_round) {
      CHECK(must_get(*store, Table::kTriplets, crash_key(r, count - 1)) ==
            crash_value(r, count - 1));
    }
  }

  if (!have_db_verify()) {
    MESSAGE("db5.3_verify is not installed: file verification skipped");
    return;
  }
  CHECK(run_db_verify(dir.path(), "triplets.db") == 0);
  CHECK(run_db_verify(dir.path(), "clients.db") == 0);
}

TEST_CASE("db5.3_verify accepts the files of a cleanly closed store") {
  if (!have_db_verify()) {
    MESSAGE("db5.3_verify is not installed: skipped");
    return;
  }
  testing::TempDir dir{"bdb-store-test"};
  {
    auto store = must_open(options_for(dir.path()));
    for (int i = 0; i < 2000; ++i) {
      REQUIRE(store->put(Table::kTriplets, "key-" + std::to_string(i), std::string(100, 'v'), 0)
                  .ok());
    }
  }
  CHECK(run_db_verify(dir.path(), "triplets.db") == 0);
  CHECK(run_db_verify(dir.path(), "clients.db") == 0);
  // And a damaged file is reported (the check above is not vacuous).
  {
    std::fstream f(dir.path() + "/triplets.db", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);
    const std::string junk(2000, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  CHECK(run_db_verify(dir.path(), "triplets.db", /*expect_errors=*/true) != 0);
}

TEST_CASE("an update function that throws: an error, no change, no lock left behind") {
  testing::TempDir dir{"bdb-store-test"};
  auto store = must_open(options_for(dir.path()));
  REQUIRE(store->put(Table::kTriplets, "k", "before", 0).ok());
  const Status st = store->update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
    v = "half-done";
    throw std::runtime_error("decoder exploded");
    return UpdateOutcome{Verdict::kWrite, 0};
  });
  CHECK(st.code() == Status::Code::kIoError);
  CHECK(contains(st.message(), "decoder exploded"));
  CHECK(contains(st.message(), dir.path()));
  CHECK(must_get(*store, Table::kTriplets, "k") == "before");
  // The transaction was aborted: another thread can take the key's write lock.
  std::thread other([&] {
    CHECK(store->update(Table::kTriplets, "k", [](std::optional<std::string>& v) {
      v = "after";
      return UpdateOutcome{Verdict::kWrite, 0};
    }).ok());
  });
  other.join();
  CHECK(must_get(*store, Table::kTriplets, "k") == "after");
}

TEST_CASE("lock conflicts between concurrent inserts are retried, never reported") {
  // Many threads inserting long keys split B-tree pages concurrently, which
  // makes Berkeley DB's deadlock detector abort some transactions; the store
  // retries them (calling the update function again) and none may fail.
  testing::TempDir dir{"bdb-store-test"};
  auto store = must_open(options_for(dir.path()));
  constexpr int kThreads = 16;
  constexpr int kKeysPerThread = 500;
  std::atomic<long> calls{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeysPerThread; ++k) {
        const std::string key = std::to_string(k * kThreads + t) + std::string(200, 'k');
        const Status st = store->update(Table::kTriplets, key, [&](std::optional<std::string>& v) {
          ++calls;
          v = std::string(300, 'v');
          return UpdateOutcome{Verdict::kWrite, 0};
        });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  CHECK(store->count(Table::kTriplets).value() == kThreads * kKeysPerThread);
  CHECK(calls.load() >= kThreads * kKeysPerThread);
  MESSAGE("update functions called " << calls.load() - kThreads * kKeysPerThread
                                     << " extra times after lock conflicts");
}

TEST_CASE("checkpoints remove the log files no longer needed") {
  testing::TempDir dir{"bdb-store-test"};
  BdbOptions options = options_for(dir.path());
  options.checkpoint_interval = std::chrono::seconds(0);  // only explicit checkpoints
  auto store = must_open(options);
  const std::string value(32 * 1024, 'L');
  int max_after_checkpoint = 0;
  int max_before_checkpoint = 0;
  for (int round = 0; round < 4; ++round) {
    // About 2 MB of log per round: two 1 MiB log files.
    for (int i = 0; i < 64; ++i) {
      REQUIRE(store->put(Table::kTriplets, "k" + std::to_string(i), value, 0).ok());
    }
    max_before_checkpoint = std::max(max_before_checkpoint, count_log_files(dir.path()));
    const Status s = store->checkpoint();
    REQUIRE_MESSAGE(s.ok(), s.message());
    max_after_checkpoint = std::max(max_after_checkpoint, count_log_files(dir.path()));
  }
  CHECK(max_before_checkpoint >= 3);  // the writes did roll log files
  CHECK(max_after_checkpoint <= 2);
  CHECK(must_get(*store, Table::kTriplets, "k63") == value);
}

TEST_CASE("the background thread checkpoints every interval") {
  testing::TempDir dir{"bdb-store-test"};
  BdbOptions options = options_for(dir.path());
  options.checkpoint_interval = std::chrono::seconds(1);
  auto store = must_open(options);
  const std::string value(32 * 1024, 'B');
  for (int i = 0; i < 128; ++i) {
    REQUIRE(store->put(Table::kTriplets, "k" + std::to_string(i), value, 0).ok());
  }
  REQUIRE(count_log_files(dir.path()) >= 3);
  // Poll (bounded) until the background checkpoint has removed old logs.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (count_log_files(dir.path()) > 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(count_log_files(dir.path()) <= 2);
}

TEST_CASE("destruction stops a long checkpoint interval at once") {
  testing::TempDir dir{"bdb-store-test"};
  BdbOptions options = options_for(dir.path());
  options.checkpoint_interval = std::chrono::hours(1);
  auto store = must_open(options);
  REQUIRE(store->put(Table::kTriplets, "k", "v", 0).ok());
  const auto start = std::chrono::steady_clock::now();
  store.reset();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  // And it released the directory.
  CHECK(BdbStore::open(options_for(dir.path())).ok());
}

TEST_CASE("updates racing to create the same keys: every one counted, none lost") {
  // Every thread counts every key up once, starting from absent: the first
  // writers of a key race to insert it (an insert that finds the key
  // written since its look must read it and count on top of it).
  testing::TempDir dir{"bdb-store-test"};
  auto store = must_open(options_for(dir.path()));
  constexpr int kThreads = 8;
  constexpr int kKeys = 200;
  std::atomic<int> failures{0};
  std::barrier start_key(kThreads);  // all threads go for each new key at once
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kKeys; ++k) {
        start_key.arrive_and_wait();
        const Status st = store->update(
            Table::kClients, "key" + std::to_string(k), [](std::optional<std::string>& v) {
              v = std::to_string(v ? std::stoi(*v) + 1 : 1);
              return UpdateOutcome{Verdict::kWrite, 0};
            });
        if (!st.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  for (int k = 0; k < kKeys; ++k) {
    CHECK(must_get(*store, Table::kClients, "key" + std::to_string(k)) == std::to_string(kThreads));
  }
}

}  // TEST_SUITE

}  // namespace
}  // namespace greylist
