// SpfZone: DNS records for SPF tests and the SPF fuzzer, answered from a
// table; names not in it have no records (kNone). spf_verdict() drives an
// SpfEvaluation to its verdict with them; FakeRecordResolver serves them
// through the DnsRecordResolver interface.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "greylist/dns_record_resolver.h"
#include "greylist/spf_evaluation.h"

namespace greylist::testing {

class SpfZone {
 public:
  SpfZone& txt(const std::string& name, std::vector<std::string> texts, int ttl = 300) {
    return add(name, DnsRecordType::kTxt, std::move(texts), {}, ttl);
  }
  // A or AAAA records, by the addresses' family (all of one family).
  SpfZone& address(const std::string& name, const std::vector<std::string>& addresses, int ttl = 300) {
    std::vector<IpAddress> parsed;
    for (const auto& text : addresses) parsed.push_back(*IpAddress::parse(text));
    const bool v4 = parsed.empty() || parsed[0].family() == IpAddress::Family::kV4;
    return add(name, v4 ? DnsRecordType::kA : DnsRecordType::kAaaa, {}, std::move(parsed), ttl);
  }
  SpfZone& mx(const std::string& name, std::vector<std::string> hosts, int ttl = 300) {
    return add(name, DnsRecordType::kMx, std::move(hosts), {}, ttl);
  }
  SpfZone& ptr(const std::string& reverse_name, std::vector<std::string> names, int ttl = 300) {
    return add(reverse_name, DnsRecordType::kPtr, std::move(names), {}, ttl);
  }
  // The lookup fails (server failure, timeout).
  SpfZone& fail(const std::string& name, DnsRecordType type) {
    records_[{type, name}] = DnsRecords{};
    return *this;
  }

  DnsRecords lookup(const DnsRecordQuery& query) const {
    const auto it = records_.find({query.type, query.name});
    if (it != records_.end()) return it->second;
    DnsRecords none;
    none.kind = DnsRecords::Kind::kNone;
    none.ttl = std::chrono::seconds(600);
    return none;
  }

 private:
  SpfZone& add(const std::string& name, DnsRecordType type, std::vector<std::string> texts,
               std::vector<IpAddress> addresses, int ttl) {
    DnsRecords& records = records_[{type, name}];
    records.kind = DnsRecords::Kind::kFound;
    records.texts = std::move(texts);
    records.addresses = std::move(addresses);
    records.ttl = std::chrono::seconds(ttl);
    return *this;
  }
  std::map<std::pair<DnsRecordType, std::string>, DnsRecords> records_;
};

// Steps `identity`'s evaluation to its verdict with `zone`'s answers,
// appending every query asked to `asked`. At most `max_steps` steps: an
// evaluation that asks for more ends as kNone with reason "steps".
inline SpfVerdict spf_verdict(const SpfZone& zone, const SpfIdentity& identity,
                              std::vector<DnsRecordQuery>* asked = nullptr, int max_steps = 1000) {
  SpfEvaluation evaluation(identity);
  for (int i = 0; i < max_steps; ++i) {
    SpfEvaluation::Step step = evaluation.step();
    if (step.verdict) return *step.verdict;
    for (const DnsRecordQuery& query : step.queries) {
      if (asked != nullptr) asked->push_back(query);
      evaluation.answer(query, zone.lookup(query));
    }
  }
  return SpfVerdict{SpfResult::kNone, "steps", {}, false, 0, {}, {}};
}

// DnsRecordResolver over an SpfZone: answers at once (on the calling
// thread), or, when held, keeps the calls until release() answers them (on
// the thread calling release()). Counts the queries it was asked.
class FakeRecordResolver final : public DnsRecordResolver {
 public:
  explicit FakeRecordResolver(const SpfZone& zone) : zone_(zone) {}

  void resolve(std::vector<DnsRecordQuery> queries, Deadline deadline, Callback done) override {
    std::unique_lock lock(mutex_);
    queries_ += queries.size();
    deadlines_.push_back(deadline);
    if (hold_) {
      held_.emplace_back(std::move(queries), std::move(done));
      return;
    }
    lock.unlock();
    answer(queries, done);
  }

  void hold(bool on) {
    std::lock_guard lock(mutex_);
    hold_ = on;
  }
  // Answers the held calls (and those they make while held is off); the
  // number answered.
  std::size_t release() {
    std::vector<std::pair<std::vector<DnsRecordQuery>, Callback>> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& [queries, done] : held) answer(queries, done);
    return held.size();
  }
  // Answers the held calls with kFailed records, as a resolver at its deadline.
  void expire() {
    std::vector<std::pair<std::vector<DnsRecordQuery>, Callback>> held;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
    }
    for (auto& [queries, done] : held) done(std::vector<DnsRecords>(queries.size()));
  }
  std::size_t queries() const {
    std::lock_guard lock(mutex_);
    return queries_;
  }
  std::vector<Deadline> deadlines() const {
    std::lock_guard lock(mutex_);
    return deadlines_;
  }

 private:
  void answer(const std::vector<DnsRecordQuery>& queries, const Callback& done) const {
    std::vector<DnsRecords> records;
    for (const auto& query : queries) records.push_back(zone_.lookup(query));
    done(std::move(records));
  }

  const SpfZone& zone_;
  mutable std::mutex mutex_;
  bool hold_ = false;
  std::size_t queries_ = 0;
  std::vector<Deadline> deadlines_;
  std::vector<std::pair<std::vector<DnsRecordQuery>, Callback>> held_;
};

}  // namespace greylist::testing
