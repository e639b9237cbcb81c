#include "milter/libmilter_pool_wakeup.h"

#include <atomic>

namespace {

// Both counts change only with libmilter's pool lock held (it signals and
// waits under it); atomics so that the rescue count can be read elsewhere.
std::atomic<int> waiting{0};   // workers inside the timed wait
std::atomic<int> claimed{0};   // of them, already signalled
std::atomic<std::size_t> rescues{0};

// A detached libmilter worker with no task: it takes the first ready
// connection from the pool's list, as a worker woken by the signal would.
void start_worker() {
  pthread_t thread;
  if (pthread_create(&thread, nullptr, mi_worker, nullptr) == 0) {
    rescues.fetch_add(1, std::memory_order_relaxed);
  }
  // On failure the connection waits for the next worker to finish a task,
  // as it did before; libmilter's own LAUNCH_WORKER does no better.
}

}  // namespace

namespace greylist {

std::size_t libmilter_pool_rescues() { return rescues.load(std::memory_order_relaxed); }

}  // namespace greylist

extern "C" int greylist_libmilter_cond_signal(pthread_cond_t* condition) {
  if (claimed.load(std::memory_order_relaxed) < waiting.load(std::memory_order_relaxed)) {
    claimed.fetch_add(1, std::memory_order_relaxed);
    return pthread_cond_signal(condition);
  }
  start_worker();
  return 0;
}

extern "C" int greylist_libmilter_cond_timedwait(pthread_cond_t* condition, pthread_mutex_t* mutex,
                                                 const struct timespec* deadline) {
  waiting.fetch_add(1, std::memory_order_relaxed);
  const int result = pthread_cond_timedwait(condition, mutex, deadline);
  waiting.fetch_sub(1, std::memory_order_relaxed);
  // Whoever returns (signalled, timed out or woken spuriously) looks for a
  // ready connection next, so it stands for one signal sent.
  if (claimed.load(std::memory_order_relaxed) > 0) claimed.fetch_sub(1, std::memory_order_relaxed);
  return result;
}
