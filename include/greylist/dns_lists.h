// DnsLists: what a front end needs to answer the rules' DNS lists
// (`dnsrbl` clauses): the resolver, the longest a blocking caller waits,
// and who counts the answers. The core names the queries
// (Greylister::plan()); the front end resolves them, then decides.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

#include "greylist/dns_resolver.h"
#include "greylist/rule_set.h"

namespace greylist {

// Told of every DNS list answer a decision used (metrics). Must be
// thread-safe, quick, and must not throw.
class DnsListObserver {
 public:
  virtual ~DnsListObserver() = default;
  // `list` is the dnsrbl's NAME; kFailed also for a lookup that timed out.
  virtual void on_dns_list_answer(std::string_view list, DnsAnswer::Kind kind) noexcept = 0;
};

struct DnsLists {
  // nullptr: nothing is looked up and every list counts as "not listed".
  DnsResolver* resolver = nullptr;
  DnsListObserver* observer = nullptr;  // nullptr: not counted
  // The longest a milter thread waits for the answers (--dns-timeout); the
  // resolver's own deadline is the same, this only bounds the wait should
  // it not come.
  std::chrono::milliseconds timeout{1000};
};

// The names to resolve for `queries`, in their order.
std::vector<std::string> query_names(const std::vector<DnsQuery>& queries);

// Tells lists.observer (when set) the answer to each query; a query
// without an answer counts as kFailed.
void report_dns_answers(const DnsLists& lists, const std::vector<DnsQuery>& queries,
                        const DnsAnswers& answers);

}  // namespace greylist
