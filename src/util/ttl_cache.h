// TtlCache: values by key until they expire, at most `capacity` keys; when
// full, the least recently used key goes first. Expired entries are dropped
// when met. Not thread-safe (its owners lock it). Used for DNS answers
// (dns/dns_cache.h), DNS records and SPF results.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

namespace greylist {

template <typename Key, typename Value>
class TtlCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // A value with the time it expires.
  struct Hit {
    Value value;
    TimePoint expires;
  };

  // capacity 0 caches nothing.
  explicit TtlCache(std::size_t capacity) : capacity_(capacity) {}

  // The value for `key` if cached and not expired at `now` (it becomes the
  // most recently used).
  std::optional<Value> get(const Key& key, TimePoint now) {
    auto hit = find(key, now);
    if (!hit) return std::nullopt;
    return std::move(hit->value);
  }

  // As get(), with the time the value expires.
  std::optional<Hit> find(const Key& key, TimePoint now) {
    const auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    if (it->second->expires <= now) {
      entries_.erase(it->second);
      index_.erase(it);
      return std::nullopt;
    }
    entries_.splice(entries_.begin(), entries_, it->second);
    return Hit{it->second->value, it->second->expires};
  }

  // Stores or replaces the value for `key` until `expires`.
  void put(const Key& key, Value value, TimePoint expires) {
    if (capacity_ == 0) return;
    if (const auto it = index_.find(key); it != index_.end()) {
      it->second->value = std::move(value);
      it->second->expires = expires;
      entries_.splice(entries_.begin(), entries_, it->second);
      return;
    }
    if (index_.size() >= capacity_) {
      index_.erase(entries_.back().key);
      entries_.pop_back();
    }
    entries_.push_front(Entry{key, std::move(value), expires});
    index_.emplace(key, entries_.begin());
  }

  std::size_t size() const { return index_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    Key key;
    Value value;
    TimePoint expires;
  };
  std::size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<Key, typename std::list<Entry>::iterator> index_;
};

}  // namespace greylist
