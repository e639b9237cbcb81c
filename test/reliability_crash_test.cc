// Crash safety of the built daemon: SIGKILL at random moments under policy
// and milter load, restarted on the same directory each time; a damaged
// environment at start (--on-corruption); the database directory's size
// under churn. GREYLIST_SOAK_* variables scale the runs (bench/soak/).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "support/line_client.h"
#include "support/milter_client.h"
#include "support/reliability_support.h"

using namespace greylist::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Every triplet is decided on its own: no auto-whitelist, no pooling.
const std::vector<std::string> kOwnTriplets{"--auto-whitelist-clients=0",
                                            "--auto-whitelist-domains=0", "--pool-by-domain=no",
                                            // unnamed clients: one delay for all
                                            "--dynamic-delay=0"};

// A triplet whose greylist reply a client received, and when.
struct Answered {
  std::string client;
  std::string sender;
  std::string recipient;
  Clock::time_point replied;
};

// Load on both front ends that can be paused; records what was answered.
class Load {
 public:
  Load(const DaemonProcess& daemon, int policy_threads, int milter_threads) : daemon_(daemon) {
    for (int w = 0; w < policy_threads; ++w) threads_.emplace_back([this, w] { policy_worker(w); });
    for (int w = 0; w < milter_threads; ++w) threads_.emplace_back([this, w] { milter_worker(w); });
  }
  ~Load() { finish(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void resume() { paused_ = false; }
  // A pause between requests of each worker (0: none, full load).
  void pace(std::chrono::microseconds pause) { pace_us_ = pause.count(); }
  // Stops new requests and waits (bounded) for those in flight to end.
  bool pause() {
    paused_ = true;
    const auto deadline = Clock::now() + 15s;
    while (busy_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return busy_ == 0;
  }
  void finish() {
    paused_ = true;
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  std::vector<Answered> answered() {
    std::lock_guard lock(mutex_);
    return answered_;
  }
  std::size_t unexpected() const { return unexpected_; }
  std::size_t policy_answers() const { return policy_answers_; }
  std::size_t milter_answers() const { return milter_answers_; }

 private:
  // True when a request may start; counts it as in flight.
  bool enter() {
    if (paused_) return false;
    if (const long us = pace_us_; us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
    ++busy_;
    if (paused_) {
      --busy_;
      return false;
    }
    return true;
  }
  void record(std::string client, std::string sender, std::string recipient) {
    std::lock_guard lock(mutex_);
    answered_.push_back({std::move(client), std::move(sender), std::move(recipient), Clock::now()});
  }

  void policy_worker(int w) {
    std::unique_ptr<LineClient> client;
    const std::string address = "203.0.113." + std::to_string(w + 1);
    for (std::uint64_t i = 0; !stop_; ++i) {
      if (!enter()) {
        client.reset();  // the daemon may be gone: a fresh connection after the pause
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (!client) client = std::make_unique<LineClient>(daemon_.policy_port, 0ms);
      if (client->ok()) {
        const std::string sender =
            "p" + letters(static_cast<std::uint64_t>(w)) + "-" + letters(i) + "@crash.test";
        const auto reply = client->policy(policy_request(address, sender, "rcpt@dest.test"));
        if (is_greylist_reply(reply)) {
          record(address, sender, "rcpt@dest.test");
          ++policy_answers_;
        } else if (reply) {
          ++unexpected_;
        } else {
          client.reset();
        }
      } else {
        client.reset();
      }
      --busy_;
    }
  }

  // Many recipients per MAIL transaction (one triplet each), as a message
  // to many recipients gives; ABORT and a new MAIL after every 50.
  void milter_worker(int w) {
    std::optional<MilterClient> milter;
    const std::string address = "198.51.100." + std::to_string(w + 1);
    const std::string sender = "m" + letters(static_cast<std::uint64_t>(w)) + "@crash.test";
    int in_transaction = 0;
    for (std::uint64_t i = 0; !stop_; ++i) {
      if (!enter()) {
        milter.reset();
        std::this_thread::sleep_for(2ms);
        continue;
      }
      if (!milter) {
        milter = open_session(address);
        in_transaction = 0;
      }
      if (milter && in_transaction == 50) {
        in_transaction = milter->abort() ? 0 : -1;
        if (in_transaction < 0) milter.reset();
      }
      if (milter && in_transaction == 0) {
        const auto mail = milter->mail({"<" + sender + ">"});
        if (!mail || !MilterClient::continues(*mail)) milter.reset();
      }
      if (milter) {
        const std::string recipient = "r" + letters(i) + "@dest.test";
        const auto rcpt = milter->rcpt({"<" + recipient + ">"});
        ++in_transaction;
        if (rcpt && rcpt->command == 'y' &&
            MilterClient::reply_text(*rcpt).find("Greylisted") != std::string::npos) {
          record(address, sender, recipient);
          ++milter_answers_;
        } else if (rcpt) {
          ++unexpected_;
          milter.reset();
        } else {
          milter.reset();
        }
      }
      --busy_;
    }
  }

  std::optional<MilterClient> open_session(const std::string& address) const {
    auto milter = MilterClient::connect_tcp("127.0.0.1",
                                            static_cast<std::uint16_t>(daemon_.milter_port), 1s);
    if (!milter || !milter->negotiate()) return std::nullopt;
    const auto connected = milter->connect("[" + address + "]", '4', 25, address);
    if (!connected || !MilterClient::continues(*connected)) return std::nullopt;
    const auto helo = milter->helo("helo.crash.test");
    if (!helo || !MilterClient::continues(*helo)) return std::nullopt;
    return milter;
  }

  const DaemonProcess& daemon_;
  std::vector<std::thread> threads_;
  std::atomic<bool> paused_{true};
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};
  std::atomic<long> pace_us_{0};
  std::atomic<std::size_t> unexpected_{0};
  std::atomic<std::size_t> policy_answers_{0};
  std::atomic<std::size_t> milter_answers_{0};
  std::mutex mutex_;
  std::vector<Answered> answered_;
};

// Asks every answered triplet again through the policy front end, on
// `connections` connections; counts those that do not pass with a header
// whose delay covers the time since their first reply.
struct SurvivalCheck {
  std::size_t checked = 0;
  std::size_t lost = 0;         // greylisted as new again
  std::size_t wrong_delay = 0;  // passed, but first-seen later than answered
  std::size_t other = 0;        // anything else (no reply, DUNNO...)
  std::string first_problem;
};

SurvivalCheck check_survivors(int port, const std::vector<Answered>& answered, int connections) {
  SurvivalCheck result;
  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      LineClient client(port, 5s);
      for (std::size_t i = next++; i < answered.size(); i = next++) {
        const Answered& a = answered[i];
        const auto sent = Clock::now();
        const auto reply = client.policy(policy_request(a.client, a.sender, a.recipient));
        const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(sent - a.replied);
        const auto delay = prepended_delay(reply);
        std::lock_guard lock(mutex);
        ++result.checked;
        std::string problem;
        if (delay && *delay >= elapsed.count()) continue;
        if (delay) {
          ++result.wrong_delay;
          problem = "delay " + std::to_string(*delay) + " < " + std::to_string(elapsed.count());
        } else if (is_greylist_reply(reply)) {
          ++result.lost;
          problem = "greylisted again";
        } else {
          ++result.other;
          problem = reply ? *reply : "no reply";
        }
        if (result.first_problem.empty()) {
          result.first_problem = a.client + " " + a.sender + ": " + problem;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return result;
}

// Total size of the files of `dir` whose names start with one of `prefixes`.
std::uint64_t files_bytes(const std::string& dir, const std::vector<std::string>& prefixes) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    for (const auto& prefix : prefixes) {
      if (entry.is_regular_file() && name.rfind(prefix, 0) == 0) total += entry.file_size();
    }
  }
  return total;
}

// The first line of `text` containing `needle` (for failure messages).
std::string first_line_with(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return "(no line with '" + needle + "')";
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     end == std::string::npos ? std::string::npos : end - begin - 1);
}

// The files of `dir` as name -> size, for "moved, not changed" checks.
std::map<std::string, std::uintmax_t> database_files(const std::string& dir) {
  std::map<std::string, std::uintmax_t> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() &&
        (name == "triplets.db" || name == "clients.db" || name.rfind("log.", 0) == 0)) {
      files[name] = entry.file_size();
    }
  }
  return files;
}

std::vector<std::string> subdirectories(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(prefix, 0) == 0) found.push_back(entry.path().string());
  }
  return found;
}

void overwrite(const std::string& path, std::uintmax_t offset, std::size_t bytes) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(file);
  file.seekp(static_cast<std::streamoff>(offset));
  std::mt19937 random(12345);
  std::string junk(bytes, '\0');
  for (char& c : junk) c = static_cast<char>(random());
  file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  REQUIRE(file);
}

// Fills the daemon's database with `count` greylisted triplets.
void insert_triplets(const DaemonProcess& daemon, int count, const std::string& tag) {
  LineClient client(daemon.policy_port);
  REQUIRE(client.ok());
  for (int i = 0; i < count; ++i) {
    REQUIRE(is_greylist_reply(client.policy(policy_request(
        "203.0.113.9", tag + letters(i) + "@corrupt.test", "rcpt@dest.test"))));
  }
}

}  // namespace

TEST_SUITE("reliability_crash") {

TEST_CASE("kill -9 under policy and milter load: the files verify after every restart and every "
          "greylisted triplet survives with its first-seen time") {
  const long rounds = env_number("GREYLIST_SOAK_KILL_ROUNDS", 12);
  const long long_round_every = env_number("GREYLIST_SOAK_LONG_ROUND_EVERY", 0);
  DaemonProcess daemon("greylist-crash");
  daemon.milter_port = free_loopback_port();
  constexpr int kDelay = 2;
  daemon.base_options = kOwnTriplets;
  daemon.base_options.insert(daemon.base_options.end(), {"--delay", std::to_string(kDelay)});
  const unsigned seed = std::random_device{}();
  MESSAGE("kill loop: " << rounds << " rounds, random seed " << seed);
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> round_ms(150, 1500);

  Load load(daemon, 3, 2);
  std::size_t verified = 0;
  std::vector<std::string> verify_failures;
  for (long round = 0; round < rounds; ++round) {
    REQUIRE_MESSAGE(daemon.start({}, 20s), "round " << round << ": no start:\n"
                                                    << daemon.log_since_start());
    if (round > 0) {
      // Recovery ran at start and wrote its result to the files; nothing
      // writes until the load resumes.
      const std::string problems = verify_database_copy(daemon.dbdir);
      if (problems.empty()) {
        ++verified;
      } else {
        verify_failures.push_back("round " + std::to_string(round) + ": " + problems);
      }
    }
    // Some rounds reach the first checkpoint (60 s after start), so a kill
    // can hit one; their load is paced, or they would answer millions.
    const bool long_round = long_round_every > 0 && round % long_round_every == long_round_every - 1;
    load.pace(long_round ? 1000us : 0us);
    load.resume();
    std::this_thread::sleep_for(long_round ? std::chrono::milliseconds(59500 + round_ms(random))
                                           : std::chrono::milliseconds(round_ms(random)));
    daemon.kill9();
    REQUIRE(load.pause());
  }
  REQUIRE(daemon.start({}, 20s));
  {
    const std::string problems = verify_database_copy(daemon.dbdir);
    if (problems.empty()) ++verified;
    else verify_failures.push_back("after the last kill: " + problems);
  }
  load.finish();
  const auto answered = load.answered();
  MESSAGE("figure: kill-loop rounds=" << rounds << " greylisted_answers=" << answered.size()
                                       << " (policy " << load.policy_answers() << ", milter "
                                       << load.milter_answers() << ") verified_restarts="
                                       << verified);
  CHECK(verify_failures.empty());
  for (const auto& failure : verify_failures) MESSAGE(failure);
  CHECK_MESSAGE(load.unexpected() == 0, first_line_with(daemon.log(), "error"));
  REQUIRE(load.policy_answers() > 0);
  REQUIRE(load.milter_answers() > 0);

  // Past the delay for the last of them, every one passes, with a delay
  // counted from its first reply.
  Clock::time_point last = {};
  for (const auto& a : answered) last = std::max(last, a.replied);
  std::this_thread::sleep_until(last + std::chrono::seconds(kDelay + 1));
  const SurvivalCheck survival = check_survivors(daemon.policy_port, answered, 4);
  MESSAGE("figure: kill-loop checked=" << survival.checked << " lost=" << survival.lost
                                       << " wrong_delay=" << survival.wrong_delay
                                       << " other=" << survival.other);
  CHECK_MESSAGE(survival.lost + survival.wrong_delay + survival.other == 0,
                "first problem: " << survival.first_problem);
  CHECK(survival.checked == answered.size());

  // A clean stop leaves files that verify in place.
  const auto stopped = daemon.stop(5s);
  REQUIRE(stopped);
  CHECK(WIFEXITED(*stopped));
  CHECK(verify_database_copy(daemon.dbdir).empty());
}

TEST_CASE("a damaged environment at start: exit 1 with instructions, or --on-corruption=reset "
          "moves the files aside and starts empty") {
  struct Damage {
    const char* name;
    bool kill_before;  // leave the log needed for recovery
    int triplets;
    void (*apply)(const std::string& dbdir);
  };
  const Damage damages[] = {
      {"triplets.db overwritten at its start", false, 300,
       [](const std::string& dbdir) { overwrite(dbdir + "/triplets.db", 0, 512); }},
      {"garbage in a log file recovery needs", true, 6000,
       [](const std::string& dbdir) { overwrite(dbdir + "/log.0000000001", 300000, 50000); }},
      {"every log file removed", false, 300,
       [](const std::string& dbdir) {
         for (const auto& entry : fs::directory_iterator(dbdir)) {
           if (entry.path().filename().string().rfind("log.", 0) == 0) fs::remove(entry.path());
         }
       }},
  };
  for (const Damage& damage : damages) {
    CAPTURE(damage.name);
    DaemonProcess daemon("greylist-corrupt");
    daemon.base_options = kOwnTriplets;
    REQUIRE(daemon.start());
    insert_triplets(daemon, damage.triplets, "before");
    if (damage.kill_before) {
      daemon.kill9();
    } else {
      REQUIRE(daemon.stop());
    }
    damage.apply(daemon.dbdir);
    const auto damaged_files = database_files(daemon.dbdir);

    // Without the option: exit 1, a message naming the directory and the
    // way out, and nothing touched.
    daemon.spawn();
    const auto status = daemon.wait_for_exit(30s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 1);
    const std::string refusal = daemon.log_since_start();
    CHECK(refusal.find("damaged") != std::string::npos);
    CHECK(refusal.find(daemon.dbdir) != std::string::npos);
    CHECK(refusal.find("--on-corruption=reset") != std::string::npos);
    CHECK(database_files(daemon.dbdir) == damaged_files);
    CHECK(subdirectories(daemon.dbdir, "corrupt-").empty());

    // With it: the files move into a timestamped subdirectory, unchanged,
    // the log says where, and the daemon serves from an empty database.
    REQUIRE_MESSAGE(daemon.start({"--on-corruption=reset"}), daemon.log_since_start());
    const auto aside = subdirectories(daemon.dbdir, "corrupt-");
    REQUIRE(aside.size() == 1);
    CHECK(database_files(aside.front()) == damaged_files);
    CHECK(daemon.log_shows(aside.front()));
    LineClient client(daemon.policy_port);
    CHECK(is_greylist_reply(
        client.policy(policy_request("203.0.113.9", "beforea@corrupt.test", "rcpt@dest.test"))));
    REQUIRE(daemon.stop());
    CHECK(verify_database_copy(daemon.dbdir).empty());
    // A healthy database is never moved, with the option or without.
    REQUIRE(daemon.start({"--on-corruption=reset"}));
    CHECK(subdirectories(daemon.dbdir, "corrupt-").size() == 1);
    REQUIRE(daemon.stop());
  }
}

TEST_CASE("churn: checkpoints and log removal keep the directory bounded") {
  const long triplets = env_number("GREYLIST_SOAK_CHURN_TRIPLETS", 60000);
  DaemonProcess daemon("greylist-churn");
  daemon.base_options = kOwnTriplets;
  REQUIRE(daemon.start());
  constexpr int kThreads = 4;
  std::atomic<long> next{0};
  std::atomic<long> failures{0};
  std::atomic<std::uint64_t> peak_log_bytes{0};
  std::atomic<bool> inserting{true};
  std::thread sampler([&] {
    while (inserting) {
      peak_log_bytes = std::max<std::uint64_t>(peak_log_bytes, log_file_bytes(daemon.dbdir));
      std::this_thread::sleep_for(200ms);
    }
  });
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      LineClient client(daemon.policy_port);
      for (long i = next++; i < triplets; i = next++) {
        const std::string network = std::to_string(10 + i % 200) + "." + std::to_string(i / 200 % 250);
        if (!is_greylist_reply(client.policy(policy_request(
                network + ".0.1", "s" + letters(i) + "@churn.test", "rcpt@dest.test")))) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const std::chrono::duration<double> took = Clock::now() - started;
  inserting = false;
  sampler.join();
  CHECK(failures == 0);
  const std::uint64_t after_insert = directory_bytes(daemon.dbdir);
  // The periodic checkpoint (every 60 s) removes the log files recovery no
  // longer needs: at most the current one and the one before remain.
  const auto deadline = Clock::now() + 80s;
  while (log_file_count(daemon.dbdir) > 2 && Clock::now() < deadline) std::this_thread::sleep_for(500ms);
  const std::uint64_t log_after = log_file_bytes(daemon.dbdir);
  const std::uint64_t tables = files_bytes(daemon.dbdir, {"triplets.db", "clients.db"});
  const std::uint64_t regions = files_bytes(daemon.dbdir, {"__db."});
  const std::uint64_t dir_after = directory_bytes(daemon.dbdir);
  MESSAGE("figure: churn triplets=" << triplets << " seconds=" << took.count()
                                    << " per_second=" << static_cast<long>(triplets / took.count())
                                    << " dir_bytes_after_insert=" << after_insert
                                    << " peak_log_bytes=" << peak_log_bytes.load()
                                    << " after_checkpoint: log_bytes=" << log_after
                                    << " table_bytes=" << tables << " region_bytes=" << regions
                                    << " dir_bytes=" << dir_after
                                    << " table_bytes_per_triplet=" << tables / triplets);
  // The documented bounds (RELIABILITY.md): after a checkpoint two log files
  // (1 MB each); tables 200 bytes a live triplet plus 1 MB; region files (only
  // when shared with greylistctl) at most the cache plus a quarter and 16 MB.
  CHECK(log_file_count(daemon.dbdir) <= 2);
  CHECK(log_after <= 2 * 1024 * 1024);
  CHECK(tables <= static_cast<std::uint64_t>(triplets) * 200 + 1024 * 1024);
  CHECK(regions <= 96ull * 1024 * 1024);
  REQUIRE(daemon.stop(10s));
  CHECK(verify_database_copy(daemon.dbdir).empty());
}

}  // TEST_SUITE
