#include "greylist/spf_evaluation.h"

#include "spf/spf_run.h"

namespace greylist {

SpfIdentity SpfIdentity::mail_from(const IpAddress& client, std::string_view sender, std::string_view helo) {
  SpfIdentity identity;
  identity.client = client;
  identity.helo = std::string(helo);
  if (sender.empty()) {
    identity.domain = identity.helo;
    identity.sender = "postmaster@" + identity.helo;
    return identity;
  }
  const auto at = sender.rfind('@');
  identity.domain = at == std::string_view::npos ? std::string() : std::string(sender.substr(at + 1));
  const std::string_view local = at == std::string_view::npos ? sender : sender.substr(0, at);
  identity.sender = (local.empty() ? std::string("postmaster") : std::string(local)) + "@" + identity.domain;
  return identity;
}

SpfEvaluation::Step SpfEvaluation::step() {
  spf::Run run(identity_, answers_);
  Step step;
  step.verdict = run.evaluate();
  if (step.verdict) return step;
  if (answers_.size() + run.needed().size() > kMaxQueries) {
    step.verdict = SpfVerdict{SpfResult::kPermerror, "more than 512 DNS queries", kNoTtl, false, 0, {}, {}};
    return step;
  }
  step.queries = run.needed();
  return step;
}

IpAddress spf_probe_address(IpAddress::Family family) {
  return *IpAddress::parse(family == IpAddress::Family::kV4 ? "240.0.0.1" : "100::1");
}

bool spf_pass_needs_probe(const SpfVerdict& verdict) {
  if (verdict.result != SpfResult::kPass) return false;
  switch (verdict.matched.mechanism) {
    case SpfMechanism::kA:
    case SpfMechanism::kMx:
    case SpfMechanism::kExists: return true;
    case SpfMechanism::kNone:
    case SpfMechanism::kAll:
    case SpfMechanism::kPtr:
    case SpfMechanism::kIp4:
    case SpfMechanism::kIp6: return false;
  }
  return false;
}

void SpfEvaluation::answer(const DnsRecordQuery& query, DnsRecords records) {
  if (answers_.size() >= kMaxQueries) return;
  answers_[spf::answer_key(query)] = std::move(records);
}

}  // namespace greylist
