#include "milter/libmilter_signal_thread.h"

#include <unistd.h>

extern "C" int greylist_libmilter_sigwait(const sigset_t* /*set*/, int* /*signal_number*/) {
  // pause() returns only after a handler ran on this thread, for a signal
  // libmilter left unblocked here; keep sleeping.
  for (;;) pause();
}
