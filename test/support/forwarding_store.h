// ForwardingStore: a Store that passes every call to another, for test
// stores that change one or two calls (override those, call the base).
#pragma once

#include "greylist/store.h"

namespace greylist::testing {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  Status update(Table t, std::string_view k, const UpdateFunction& fn) override {
    return inner_.update(t, k, fn);
  }
  Result<std::optional<std::string>> get(Table t, std::string_view k) override {
    return inner_.get(t, k);
  }
  Status put(Table t, std::string_view k, std::string_view v, EpochSeconds e) override {
    return inner_.put(t, k, v, e);
  }
  Status erase(Table t, std::string_view k) override { return inner_.erase(t, k); }
  Result<std::vector<StoreEntry>> scan(Table t, std::string_view a, std::size_t l) override {
    return inner_.scan(t, a, l);
  }
  Result<std::uint64_t> count(Table t) override { return inner_.count(t); }
  const char* name() const override { return inner_.name(); }
  DeferredCommits* deferred_commits() override { return inner_.deferred_commits(); }

 private:
  Store& inner_;
};

}  // namespace greylist::testing
