#include "spf/spf_memo.h"

#include <utility>

namespace greylist {

const SpfVerdict* SpfMemo::find(const SpfIdentity& identity, Clock::time_point now) const {
  if (!last_ || now < last_->at || now - last_->at >= kWindow) return nullptr;
  const SpfIdentity& known = last_->identity;
  const bool same = known.client == identity.client && known.domain == identity.domain &&
                    known.sender == identity.sender && known.helo == identity.helo;
  return same ? &last_->verdict : nullptr;
}

void SpfMemo::remember(const SpfIdentity& identity, SpfVerdict verdict, Clock::time_point now) {
  last_ = Entry{identity, std::move(verdict), now};
}

}  // namespace greylist
