#include "dns/dns_cache.h"

namespace greylist {

std::optional<DnsAnswer> DnsCache::get(const std::string& name, TimePoint now) {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  if (it->second->expires <= now) {
    entries_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->answer;
}

void DnsCache::put(const std::string& name, DnsAnswer answer, TimePoint expires) {
  if (capacity_ == 0) return;
  if (const auto it = index_.find(name); it != index_.end()) {
    it->second->answer = std::move(answer);
    it->second->expires = expires;
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  if (index_.size() >= capacity_) {
    index_.erase(entries_.back().name);
    entries_.pop_back();
  }
  entries_.push_front(Entry{name, std::move(answer), expires});
  index_.emplace(name, entries_.begin());
}

}  // namespace greylist
