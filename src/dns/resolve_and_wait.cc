#include <condition_variable>
#include <memory>
#include <mutex>

#include "greylist/dns_resolver.h"

namespace greylist {

DnsAnswers resolve_and_wait(DnsResolver& resolver, std::vector<std::string> names,
                            std::chrono::milliseconds timeout) {
  // Shared with the callback, which may run after this function returned.
  struct Waiter {
    std::mutex mutex;
    std::condition_variable ready;
    bool done = false;
    DnsAnswers answers;
  };
  auto waiter = std::make_shared<Waiter>();
  const std::vector<std::string> asked = names;
  resolver.resolve(std::move(names), [waiter](DnsAnswers answers) {
    std::lock_guard lock(waiter->mutex);
    waiter->answers = std::move(answers);
    waiter->done = true;
    waiter->ready.notify_all();
  });
  std::unique_lock lock(waiter->mutex);
  waiter->ready.wait_for(lock, timeout, [&] { return waiter->done; });
  DnsAnswers answers = waiter->done ? std::move(waiter->answers) : DnsAnswers{};
  for (const std::string& name : asked) answers.try_emplace(name);  // unanswered: kFailed
  return answers;
}

}  // namespace greylist
