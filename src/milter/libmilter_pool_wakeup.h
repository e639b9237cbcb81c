// libmilter_pool_wakeup: no connection waits in libmilter's worker pool
// while the pool believes a worker has been woken for it.
//
// Why: in Debian's libmilter (_FFR_WORKERS_POOL, worker.c) the controller
// thread, when a connection has a command ready (or a new one is accepted),
// marks it ready and signals the pool's condition variable if its count of
// idle workers is above zero; only when that count is zero does it start a
// new worker. But an idle worker stays counted until it has woken and taken
// the pool's lock, so two connections ready in quick succession with one
// idle worker get two signals and one worker: the second waits until some
// worker finishes its task and looks for the next one, or until libmilter's
// 10 s condition timeout. With every worker held by a slow peer (one that
// sends a packet a byte a second ties a worker to it for the packet's whole
// read), a ready connection sat there for seconds (the reliability case
// "a 1 MB packet is cut off at once" saw 3 s; it was the case's known
// flakiness under load, and made far likelier by libmilter_session_wait).
//
// The fix: the condition variable's signal and timed wait are counted as
// libmilter makes them (both under the pool's lock, which serialises the
// counts): `waiting` workers inside the wait, `claimed` of them already
// signalled. A signal with no unclaimed waiter would be lost, so a new
// worker is started instead, as libmilter itself does when it counts no idle
// worker; it takes the ready connection from the pool's list.
//
// How: as libmilter_quickack.h, the static libmilter.a is linked with its
// pthread_cond_signal and pthread_cond_timedwait calls renamed to the
// functions below (only worker.c calls them, on its one condition variable)
// and its static worker function mi_worker made global, so that the started
// worker is libmilter's own (src/milter/libmilter/meson.build checks that
// the archive has it).
#pragma once

#include <pthread.h>

#include <cstddef>

namespace greylist {

// Workers started because a signal would have found no unclaimed waiter,
// since the process started (for tests and the analysis).
std::size_t libmilter_pool_rescues();

}  // namespace greylist

// libmilter's worker thread function (worker.c, static there).
extern "C" void* mi_worker(void* context);

// libmilter's pthread_cond_signal and pthread_cond_timedwait: the calls,
// counted; a signal that no unclaimed waiter would take also starts a
// worker. Results are the calls'.
extern "C" int greylist_libmilter_cond_signal(pthread_cond_t* condition);
extern "C" int greylist_libmilter_cond_timedwait(pthread_cond_t* condition, pthread_mutex_t* mutex,
                                                 const struct timespec* deadline);
