#include "store/memory_store.h"

namespace greylist {

Status MemoryStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  std::lock_guard lock(mutex_);
  Map& m = map(table);
  auto it = m.find(key);
  std::optional<std::string> value;
  if (it != m.end()) value = it->second;
  const UpdateOutcome outcome = fn(value);
  switch (outcome.verdict) {
    case UpdateOutcome::Verdict::kKeep:
      break;
    case UpdateOutcome::Verdict::kWrite:
      if (!value) return Status::InvalidArgument("update asked to write an absent value");
      m.insert_or_assign(std::string(key), *value);
      break;
    case UpdateOutcome::Verdict::kErase:
      if (it != m.end()) m.erase(it);
      break;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryStore::get(Table table, std::string_view key) {
  std::lock_guard lock(mutex_);
  const Map& m = map(table);
  auto it = m.find(key);
  if (it == m.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryStore::put(Table table, std::string_view key, std::string_view value,
                        EpochSeconds /*expires_at*/) {
  std::lock_guard lock(mutex_);
  map(table).insert_or_assign(std::string(key), std::string(value));
  return Status::Ok();
}

Status MemoryStore::erase(Table table, std::string_view key) {
  std::lock_guard lock(mutex_);
  Map& m = map(table);
  auto it = m.find(key);
  if (it != m.end()) m.erase(it);
  return Status::Ok();
}

Result<std::vector<StoreEntry>> MemoryStore::scan(Table table, std::string_view after,
                                                  std::size_t limit) {
  std::lock_guard lock(mutex_);
  const Map& m = map(table);
  std::vector<StoreEntry> out;
  for (auto it = m.upper_bound(after); it != m.end() && out.size() < limit; ++it) {
    out.push_back({it->first, it->second});
  }
  return out;
}

Result<std::uint64_t> MemoryStore::count(Table table) {
  std::lock_guard lock(mutex_);
  return static_cast<std::uint64_t>(map(table).size());
}

}  // namespace greylist
