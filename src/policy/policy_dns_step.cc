#include "policy/policy_dns_step.h"

#include <memory>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dns/asio_resolve.h"

namespace greylist {

namespace asio = boost::asio;

asio::awaitable<DnsAnswers> resolve_dns_lists(const DnsLists& lists,
                                              std::vector<std::string> names) {
  if (lists.resolver == nullptr) co_return DnsAnswers{};
  const auto executor = co_await asio::this_coro::executor;
  auto initiate = [&lists, executor](auto handler, std::vector<std::string> to_resolve) {
    // The coroutine's handler can only be moved; the resolver's callback
    // must be copyable.
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    async_resolve(*lists.resolver, std::move(to_resolve), executor,
                  [shared](DnsAnswers answers) { (*shared)(std::move(answers)); });
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(DnsAnswers)>(
      std::move(initiate), asio::use_awaitable, std::move(names));
}

}  // namespace greylist
