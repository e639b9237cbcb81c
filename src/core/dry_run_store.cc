#include "greylist/dry_run_store.h"

namespace greylist {

Status DryRunStore::update(Table table, std::string_view key, const UpdateFunction& fn) {
  auto found = store_.get(table, key);
  if (!found.ok()) return found.status();
  std::optional<std::string> value = std::move(found).value();
  fn(value);  // the verdict and the new value are dropped
  return Status::Ok();
}

Result<std::optional<std::string>> DryRunStore::get(Table table, std::string_view key) {
  return store_.get(table, key);
}

Status DryRunStore::put(Table, std::string_view, std::string_view, EpochSeconds) {
  return Status::InvalidArgument("dry run: nothing is written");
}

Status DryRunStore::erase(Table, std::string_view) {
  return Status::InvalidArgument("dry run: nothing is erased");
}

Result<std::vector<StoreEntry>> DryRunStore::scan(Table table, std::string_view after,
                                                  std::size_t limit) {
  return store_.scan(table, after, limit);
}

Result<std::uint64_t> DryRunStore::count(Table table) { return store_.count(table); }

}  // namespace greylist
