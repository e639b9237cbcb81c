// DnsResolver: the seam between the core's DNS lists and the network.
//
// The core (greylist/rule_set.h) names the A records a request needs; a
// DnsResolver fetches them. The daemon's is AresResolver (c-ares,
// greylist/ares_resolver.h); tests use a fake that answers from a table.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace greylist {

struct DnsAnswer {
  enum class Kind {
    kListed,     // A records in `addresses`
    kNotListed,  // NXDOMAIN, or the name exists without A records
    kFailed,     // timeout, server failure, refused, malformed answer
  };
  Kind kind = Kind::kFailed;
  std::vector<std::array<std::uint8_t, 4>> addresses;  // kListed only, non-empty
};

// Answers by query name (lower case, no final dot, as DnsQuery::name).
using DnsAnswers = std::unordered_map<std::string, DnsAnswer>;

class DnsResolver {
 public:
  using Callback = std::function<void(DnsAnswers)>;

  virtual ~DnsResolver() = default;

  // Looks up the A records of every name and calls `done` exactly once
  // with one answer per name, within the resolver's timeout: a name not
  // answered by then is kFailed. `done` runs either on the calling thread
  // before resolve() returns (every answer was cached, or `names` is
  // empty) or on the resolver's own thread; it must not block and must
  // not call resolve() recursively on that thread. Thread-safe; never
  // blocks on the network.
  virtual void resolve(std::vector<std::string> names, Callback done) = 0;
};

// For a thread that may block (a milter thread): resolve() and wait at
// most `timeout` for the answers; names still unanswered then are kFailed.
// The resolver's own deadline normally comes first; `timeout` bounds the
// wait even if it did not.
DnsAnswers resolve_and_wait(DnsResolver& resolver, std::vector<std::string> names,
                            std::chrono::milliseconds timeout);

}  // namespace greylist
