// FailingStore: wraps a Store and fails chosen calls, to prove what a
// database failure does to the layers above.
#pragma once

#include <atomic>

#include "greylist/store.h"

namespace greylist::testing {

class FailingStore final : public Store {
 public:
  explicit FailingStore(Store& inner) : inner_(inner) {}

  std::atomic<bool> fail_reads{false};
  std::atomic<bool> fail_writes{false};  // update/put/erase
  std::atomic<int> calls{0};

  Status update(Table t, std::string_view k, const UpdateFunction& fn) override {
    ++calls;
    if (fail_writes) return Status::IoError("injected write failure");
    return inner_.update(t, k, fn);
  }
  Result<std::optional<std::string>> get(Table t, std::string_view k) override {
    ++calls;
    if (fail_reads) return Status::IoError("injected read failure");
    return inner_.get(t, k);
  }
  Status put(Table t, std::string_view k, std::string_view v, EpochSeconds e) override {
    ++calls;
    if (fail_writes) return Status::IoError("injected write failure");
    return inner_.put(t, k, v, e);
  }
  Status erase(Table t, std::string_view k) override {
    ++calls;
    if (fail_writes) return Status::IoError("injected write failure");
    return inner_.erase(t, k);
  }
  Result<std::vector<StoreEntry>> scan(Table t, std::string_view a, std::size_t l) override {
    ++calls;
    if (fail_reads) return Status::IoError("injected read failure");
    return inner_.scan(t, a, l);
  }
  Result<std::uint64_t> count(Table t) override { return inner_.count(t); }
  const char* name() const override { return "failing"; }

 private:
  Store& inner_;
};

}  // namespace greylist::testing
