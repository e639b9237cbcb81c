// MemoryStore: a Store in a std::map, for unit tests of the core only.
// Nothing survives the object. Thread-safe (one mutex).
#pragma once

#include <array>
#include <map>
#include <mutex>

#include "greylist/store.h"

namespace greylist {

class MemoryStore final : public Store {
 public:
  Status update(Table table, std::string_view key, const UpdateFunction& fn) override;
  Result<std::optional<std::string>> get(Table table, std::string_view key) override;
  Status put(Table table, std::string_view key, std::string_view value,
             EpochSeconds expires_at) override;
  Status erase(Table table, std::string_view key) override;
  Result<std::vector<StoreEntry>> scan(Table table, std::string_view after,
                                       std::size_t limit) override;
  Result<std::uint64_t> count(Table table) override;
  const char* name() const override { return "memory"; }

 private:
  using Map = std::map<std::string, std::string, std::less<>>;
  Map& map(Table table) { return maps_[static_cast<std::size_t>(table)]; }

  std::mutex mutex_;
  std::array<Map, 2> maps_;
};

}  // namespace greylist
