// DryRunStore: a view of a Store that reads through and writes nothing.
//
// update() reads the current value and calls the update function on a copy,
// so the caller computes what it would write, but the verdict is dropped.
// put() and erase() are refused (InvalidArgument); scan() and count()
// read through. For greylistctl whitelist-check, which runs the daemon's
// own decision steps against it. Thread-safe if the wrapped store is; it
// must outlive the view.
#pragma once

#include "greylist/store.h"

namespace greylist {

class DryRunStore final : public Store {
 public:
  explicit DryRunStore(Store& store) : store_(store) {}

  Status update(Table table, std::string_view key, const UpdateFunction& fn) override;
  Result<std::optional<std::string>> get(Table table, std::string_view key) override;
  Status put(Table table, std::string_view key, std::string_view value,
             EpochSeconds expires_at) override;
  Status erase(Table table, std::string_view key) override;
  Result<std::vector<StoreEntry>> scan(Table table, std::string_view after,
                                       std::size_t limit) override;
  Result<std::uint64_t> count(Table table) override;
  const char* name() const override { return store_.name(); }

 private:
  Store& store_;
};

}  // namespace greylist
