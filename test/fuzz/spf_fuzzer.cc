// Fuzzes SPF evaluation (greylist/spf_evaluation.h) with fuzzer-made DNS
// data. The first line is "CLIENT SENDER HELO"; each further line is a
// record "TYPE NAME VALUE": TXT (the rest of the line is one TXT record),
// A / AAAA (an address), MX / PTR (a name), or "FAIL TYPE NAME" (that
// lookup fails). Names without records answer "no records".
//
// Invariants: the evaluation ends in a bounded number of steps; each step
// asks for distinct queries never answered before, with canonical names of
// at most 253 bytes; no verdict counts more than 11 DNS-querying terms; an
// uncheckable domain asks nothing; the same data gives the same verdict
// again; every SPF record among the TXT data parses or fails cleanly, and
// its macro strings expand within the bound.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "greylist/spf_evaluation.h"
#include "spf/spf_macro.h"
#include "spf/spf_names.h"
#include "spf/spf_record.h"

namespace {

using greylist::DnsRecordQuery;
using greylist::DnsRecords;
using greylist::DnsRecordType;
using greylist::IpAddress;
using greylist::SpfEvaluation;
using greylist::SpfIdentity;
using greylist::SpfVerdict;

using Zone = std::map<std::pair<DnsRecordType, std::string>, DnsRecords>;

std::string_view next_field(std::string_view& line) {
  const auto space = line.find(' ');
  const std::string_view field = line.substr(0, space);
  line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  return field;
}

bool type_of(std::string_view text, DnsRecordType& type) {
  const std::pair<std::string_view, DnsRecordType> types[] = {
      {"TXT", DnsRecordType::kTxt}, {"A", DnsRecordType::kA},     {"AAAA", DnsRecordType::kAaaa},
      {"MX", DnsRecordType::kMx},   {"PTR", DnsRecordType::kPtr},
  };
  for (const auto& [name, value] : types) {
    if (text == name) {
      type = value;
      return true;
    }
  }
  return false;
}

void add_line(Zone& zone, std::string_view line) {
  const std::string_view kind = next_field(line);
  DnsRecordType type;
  if (kind == "FAIL") {
    if (!type_of(next_field(line), type)) return;
    zone[{type, greylist::dns_canonical_name(std::string(next_field(line)))}] = DnsRecords{};
    return;
  }
  if (!type_of(kind, type)) return;
  DnsRecords& records = zone[{type, greylist::dns_canonical_name(std::string(next_field(line)))}];
  records.kind = DnsRecords::Kind::kFound;
  records.ttl = std::chrono::seconds(60 + zone.size());
  if (type == DnsRecordType::kA || type == DnsRecordType::kAaaa) {
    if (const auto address = IpAddress::parse(line)) records.addresses.push_back(*address);
  } else {
    records.texts.emplace_back(type == DnsRecordType::kTxt ? std::string(line)
                                                           : greylist::dns_canonical_name(std::string(line)));
  }
}

DnsRecords lookup(const Zone& zone, const DnsRecordQuery& query) {
  const auto it = zone.find({query.type, query.name});
  if (it != zone.end()) return it->second;
  DnsRecords none;
  none.kind = DnsRecords::Kind::kNone;
  return none;
}

void check_query(const DnsRecordQuery& query) {
  FUZZ_CHECK(!query.name.empty());
  FUZZ_CHECK(query.name.size() <= greylist::spf::kMaxDomainLength);
  FUZZ_CHECK(query.name.back() != '.');
  FUZZ_CHECK(greylist::spf::query_name(query.name) == query.name);
}

SpfVerdict run(const Zone& zone, const SpfIdentity& identity, std::size_t& asked) {
  SpfEvaluation evaluation(identity);
  std::vector<DnsRecordQuery> seen;
  for (std::size_t steps = 0; steps <= SpfEvaluation::kMaxQueries + 1; ++steps) {
    SpfEvaluation::Step step = evaluation.step();
    if (step.verdict) {
      FUZZ_CHECK(step.queries.empty());
      asked = seen.size();
      return *step.verdict;
    }
    FUZZ_CHECK(!step.queries.empty());
    for (const DnsRecordQuery& query : step.queries) {
      check_query(query);
      for (const DnsRecordQuery& before : seen) FUZZ_CHECK(!(before == query));
      seen.push_back(query);
      evaluation.answer(query, lookup(zone, query));
    }
  }
  FUZZ_CHECK(false && "evaluation did not end");
  return {};
}

class FixedValues final : public greylist::spf::MacroValues {
 public:
  std::optional<std::string> value(char letter) override { return std::string(3, letter) + ".example.com"; }
};

// Every SPF record in the zone parses or fails with a message; its terms'
// macro strings expand within the bound.
void check_records(const Zone& zone) {
  for (const auto& [key, records] : zone) {
    for (const std::string& text : records.texts) {
      if (key.first != DnsRecordType::kTxt || !greylist::spf::is_spf_record(text)) continue;
      auto record = greylist::spf::parse_record(text);
      if (!record.ok()) {
        FUZZ_CHECK(!record.status().message().empty());
        continue;
      }
      FixedValues values;
      for (const auto& term : record.value().terms) {
        FUZZ_CHECK(text.find(term.text) != std::string::npos);
        const auto expansion = greylist::spf::expand(term.domain, values);
        if (expansion.kind == greylist::spf::Expansion::Kind::kOk) {
          FUZZ_CHECK(expansion.text.size() <= greylist::spf::kMaxExpansion);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  std::string_view first = input.substr(0, newline);
  input = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  const auto client = IpAddress::parse(next_field(first));
  if (!client) return 0;
  const std::string_view sender = next_field(first);
  const SpfIdentity identity = SpfIdentity::mail_from(*client, sender, first);

  Zone zone;
  for (int lines = 0; !input.empty() && lines < 256; ++lines) {
    const auto end = input.find('\n');
    add_line(zone, input.substr(0, end));
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
  }
  check_records(zone);

  std::size_t asked = 0;
  const SpfVerdict verdict = run(zone, identity, asked);
  FUZZ_CHECK(!verdict.reason.empty());
  FUZZ_CHECK(verdict.reason.size() <= SpfEvaluation::kMaxReason);
  FUZZ_CHECK(verdict.dns_lookups <= 11);
  // A pass always comes from a mechanism that matched (through include: and
  // redirect=, the inner one); the term reported is bounded.
  if (verdict.result == greylist::SpfResult::kPass) {
    FUZZ_CHECK(verdict.matched.mechanism != greylist::SpfMechanism::kNone);
  }
  FUZZ_CHECK(verdict.matched.term.size() <= SpfEvaluation::kMaxTerm);
  FUZZ_CHECK(verdict.matched.prefix <= 128);
  if (!greylist::spf::is_checkable_domain(identity.domain)) {
    FUZZ_CHECK(verdict.result == greylist::SpfResult::kNone);
    FUZZ_CHECK(asked == 0);
  }
  std::size_t asked_again = 0;
  const SpfVerdict again = run(zone, identity, asked_again);
  FUZZ_CHECK(again.result == verdict.result);
  FUZZ_CHECK(again.reason == verdict.reason);
  FUZZ_CHECK(again.matched.mechanism == verdict.matched.mechanism);
  FUZZ_CHECK(asked_again == asked);
  return 0;
}
