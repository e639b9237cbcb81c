// For an event loop (the policy front end): resolve() with the answers
// handed back on the loop's executor, so the handler runs on the loop's
// thread (or strand) like every other completion, and the loop never
// waits for DNS.
#pragma once

#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "greylist/dns_resolver.h"

namespace greylist {

// Calls handler(DnsAnswers) through boost::asio::post(executor, ...) once
// the answers are in (at the resolver's deadline at the latest). The
// executor must outlive the lookup (the loop keeps running until then).
template <typename Executor, typename Handler>
void async_resolve(DnsResolver& resolver, std::vector<std::string> names, const Executor& executor,
                   Handler handler) {
  resolver.resolve(std::move(names),
                   [executor, handler = std::move(handler)](DnsAnswers answers) mutable {
                     boost::asio::post(executor, [handler = std::move(handler),
                                                  answers = std::move(answers)]() mutable {
                       handler(std::move(answers));
                     });
                   });
}

}  // namespace greylist
