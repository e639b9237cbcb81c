#include "spf/spf_memo.h"

#include <utility>

namespace greylist {

const SpfVerdict* SpfMemo::find(const SpfIdentity& identity, Clock::time_point now) const {
  if (!last_ || now < last_->at || now - last_->at >= kWindow) return nullptr;
  return last_->identity == identity ? &last_->verdict : nullptr;
}

void SpfMemo::remember(const SpfIdentity& identity, SpfVerdict verdict, Clock::time_point now) {
  last_ = Entry{identity, std::move(verdict), now};
}

}  // namespace greylist
