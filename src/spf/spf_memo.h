// SpfMemo: the last SPF verdict one policy connection got, reused for its
// next requests with the same identity (client address, sender, HELO name,
// domain) for a short window.
//
// The policy front end is asked once per recipient; a message's RCPT
// commands come within seconds with the same identity. The checker caches
// verdicts itself, but not a temperror (a DNS timeout) nor one that used
// the sender or the HELO name (%{s}, %{l}, %{h}): without the memo a
// silent DNS server costs a message one --dns-timeout per recipient. With
// it, one per message (per identity and window); the verdict is the same
// for every recipient, as a milter session's is (it checks once per
// message).
//
// Not thread-safe: one connection's coroutine uses it, one request at a
// time.
#pragma once

#include <chrono>
#include <optional>

#include "greylist/spf_evaluation.h"

namespace greylist {

class SpfMemo {
 public:
  using Clock = std::chrono::steady_clock;
  // How long a verdict is reused: a message's recipients (Postfix reads
  // the RCPT commands of a pipelined client at once, a slow one a few
  // seconds apart), short enough that a DNS server back in service is
  // asked again within a minute.
  static constexpr std::chrono::seconds kWindow{60};

  // The verdict remembered for `identity` less than kWindow before `now`;
  // nullptr when there is none (another identity, or too old).
  const SpfVerdict* find(const SpfIdentity& identity, Clock::time_point now) const;

  // Remembers `verdict` for `identity` (the previous one is forgotten).
  void remember(const SpfIdentity& identity, SpfVerdict verdict, Clock::time_point now);

 private:
  struct Entry {
    SpfIdentity identity;
    SpfVerdict verdict;
    Clock::time_point at;
  };
  std::optional<Entry> last_;
};

}  // namespace greylist
