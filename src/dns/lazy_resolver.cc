#include "dns/lazy_resolver.h"

namespace greylist {

Status LazyResolver::start() {
  std::lock_guard lock(mutex_);
  if (stopped_) return Status::Unavailable("the DNS resolver was stopped");
  if (resolver_) return Status::Ok();
  auto created = AresResolver::create(options_);
  if (!created.ok()) return created.status();
  resolver_ = std::move(created).value();
  return Status::Ok();
}

bool LazyResolver::started() const {
  std::lock_guard lock(mutex_);
  return resolver_ != nullptr;
}

void LazyResolver::stop() {
  std::shared_ptr<AresResolver> resolver;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    resolver = std::move(resolver_);
  }
  // Destroyed outside the lock (its pending callbacks run now), unless a
  // resolve() in progress still holds it: then when that call returns.
  resolver.reset();
}

void LazyResolver::resolve(std::vector<std::string> names, Callback done) {
  std::shared_ptr<AresResolver> resolver;
  {
    std::lock_guard lock(mutex_);
    resolver = resolver_;
  }
  if (resolver) {
    resolver->resolve(std::move(names), std::move(done));
    return;
  }
  DnsAnswers answers;
  for (std::string& name : names) answers.try_emplace(std::move(name));  // kFailed
  done(std::move(answers));
}

}  // namespace greylist
