#include "greylist/dns_lists.h"

namespace greylist {

std::vector<std::string> query_names(const std::vector<DnsQuery>& queries) {
  std::vector<std::string> names;
  names.reserve(queries.size());
  for (const DnsQuery& query : queries) names.push_back(query.name);
  return names;
}

void report_dns_answers(const DnsLists& lists, const std::vector<DnsQuery>& queries,
                        const DnsAnswers& answers) {
  if (lists.observer == nullptr) return;
  for (const DnsQuery& query : queries) {
    const auto found = answers.find(query.name);
    lists.observer->on_dns_list_answer(
        query.list, found != answers.end() ? found->second.kind : DnsAnswer::Kind::kFailed);
  }
}

}  // namespace greylist
