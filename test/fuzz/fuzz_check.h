// FUZZ_CHECK: an invariant of the code under test. A false one prints the
// condition and aborts, which libFuzzer reports as a crash and saves the
// input (assert() would vanish under NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                       \
  do {                                                                              \
    if (!(condition)) {                                                             \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,    \
                   #condition);                                                     \
      std::abort();                                                                 \
    }                                                                               \
  } while (false)
