// The policy front end's DNS step: a request whose decision needs DNS list
// answers (PolicyResponder::begin() left it waiting) gets them here,
// without blocking its connection's thread: the coroutine of the
// connection is suspended, the thread serves its other connections, and
// the coroutine resumes on its own executor when the resolver answered
// (by the resolver's deadline, --dns-timeout, at the latest).
#pragma once

#include <string>
#include <utility>  // boost/asio/awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "greylist/dns_lists.h"

namespace greylist {

// The answers to `names` from lists.resolver, one per name (failed ones
// kFailed); no answers at all without a resolver. The resolver's callbacks
// must have run before the executor of the calling coroutine is destroyed
// (LazyResolver::stop()).
boost::asio::awaitable<DnsAnswers> resolve_dns_lists(const DnsLists& lists,
                                                     std::vector<std::string> names);

}  // namespace greylist
