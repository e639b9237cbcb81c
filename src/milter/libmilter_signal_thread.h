// libmilter_signal_thread: libmilter's signal thread never takes a signal.
//
// Why: smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM and
// SIGINT and stops the milter on any of them. The daemon handles those
// signals itself, on its main thread (daemon/control_signals.h: a SIGHUP
// reloads, a SIGTERM stops everything in order). The kernel gives a
// process-wide signal to a thread that does not block it, preferring the
// main thread, but not when the main thread already has a signal pending
// and is not running: then a thread inside sigwait() gets it. On a loaded
// machine a burst of SIGHUPs (logrotate, a configuration tool) could so
// stop the milter, and with it the daemon (the daemon_process case "with
// the milter on, SIGHUPs from the first log line on never stop the daemon"
// failed so, under load, in two rounds of five).
//
// The fix: libmilter's sigwait() is renamed (objcopy --redefine-sym, as
// libmilter_quickack.h explains; only libmilter's signal.c calls it) to the
// function below, which never returns: that thread keeps the signals
// blocked and sleeps, so the main thread is the only one that can take
// them. libmilter is stopped by smfi_stop() (milter_server.h) only.
#pragma once

#include <signal.h>

// libmilter's sigwait(3): sleeps for ever, the calling thread's signal mask
// unchanged (libmilter blocks SIGHUP, SIGTERM and SIGINT there before).
extern "C" [[noreturn]] int greylist_libmilter_sigwait(const sigset_t* set, int* signal_number);
