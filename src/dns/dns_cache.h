// DnsCache: DNS answers by name until they expire, at most `capacity`
// names; when full, the least recently used name goes first. Expired
// entries are dropped when met. Not thread-safe (AresResolver locks it).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>

#include "greylist/dns_resolver.h"

namespace greylist {

class DnsCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // capacity 0 caches nothing.
  explicit DnsCache(std::size_t capacity) : capacity_(capacity) {}

  // The answer for `name` if cached and not expired at `now` (it becomes
  // the most recently used).
  std::optional<DnsAnswer> get(const std::string& name, TimePoint now);
  // Stores or replaces the answer for `name` until `expires`.
  void put(const std::string& name, DnsAnswer answer, TimePoint expires);

  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string name;
    DnsAnswer answer;
    TimePoint expires;
  };
  std::size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace greylist
