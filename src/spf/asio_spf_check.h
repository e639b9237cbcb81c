// For an event loop (the policy front end): SpfChecker::check() with the
// verdict handed back on the loop's executor, so the handler runs on the
// loop's thread (or strand) like every other completion, and the loop never
// waits for DNS.
#pragma once

#include <utility>

#include <boost/asio/post.hpp>

#include "greylist/spf_checker.h"

namespace greylist {

// Calls handler(SpfVerdict) through boost::asio::post(executor, ...) once
// the verdict is in (by the checker's timeout at the latest). The executor
// must outlive the check (the loop keeps running until then).
template <typename Executor, typename Handler>
void async_check_spf(SpfChecker& checker, SpfIdentity identity, const Executor& executor, Handler handler) {
  checker.check(std::move(identity), [executor, handler = std::move(handler)](SpfVerdict verdict) mutable {
    boost::asio::post(executor, [handler = std::move(handler), verdict = std::move(verdict)]() mutable {
      handler(std::move(verdict));
    });
  });
}

}  // namespace greylist
