#include "greylist/decision.h"

namespace greylist {
namespace {

// "<words>", or "<words> (<detail>)" when there is a detail.
std::string with_detail(const char* words, const std::string& detail) {
  return detail.empty() ? std::string(words) : std::string(words) + " (" + detail + ")";
}

}  // namespace

Decision make_decision(Decision::Action action, Decision::Reason reason, std::string detail) {
  Decision decision;
  decision.action = action;
  decision.reason = reason;
  decision.detail = std::move(detail);
  return decision;
}

Decision whitelist_decision(const WhitelistMatch& match) {
  return make_decision(Decision::Action::kWhitelisted,
                       match.list == WhitelistMatch::List::kRecipients
                           ? Decision::Reason::kRecipientWhitelist
                           : Decision::Reason::kClientWhitelist,
                       match.rule);
}

std::string reason_text(const Decision& decision) {
  using Reason = Decision::Reason;
  switch (decision.reason) {
    case Reason::kNew: return "new";
    case Reason::kEarlyRetry:
      return "early-retry (" + std::to_string(decision.seconds_left) + "s missing)";
    case Reason::kTripletFound: return "triplet found";
    case Reason::kPool: return with_detail("pool", decision.detail);
    case Reason::kClientWhitelist: return with_detail("client whitelist", decision.detail);
    case Reason::kRecipientWhitelist: return with_detail("recipient whitelist", decision.detail);
    case Reason::kClientAwl: return "client AWL";
    case Reason::kDomainAwl: return "domain AWL";
    case Reason::kSmtpAuth: return "SMTP AUTH";
    case Reason::kSkipNetwork: return with_detail("skip networks", decision.detail);
    case Reason::kNoClientAddress: return "no client address";
    case Reason::kStoreError: return decision.detail.empty() ? "store error" : decision.detail;
    case Reason::kRuleWhitelist: return with_detail("rule whitelist", decision.detail);
    case Reason::kRuleBlacklist: return with_detail("rule blacklist", decision.detail);
    case Reason::kGreytrap: return with_detail("greytrap", decision.detail);
  }
  return "store error";
}

const char* action_log_word(Decision::Action action) {
  switch (action) {
    case Decision::Action::kGreylist: return "greylist";
    case Decision::Action::kPass:
    case Decision::Action::kWhitelisted: return "pass";
    case Decision::Action::kError: return "error";
    case Decision::Action::kReject: return "reject";
  }
  return "error";
}

}  // namespace greylist
