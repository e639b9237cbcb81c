#include "policy/policy_responder.h"

#include <exception>

#include "greylist/log_line.h"
#include "greylist/reply_text.h"
#include "greylist/rule_reply.h"

namespace greylist {
namespace {

constexpr KnownAttribute kRequiredAttributes[] = {
    KnownAttribute::kClientAddress, KnownAttribute::kClientName, KnownAttribute::kSender,
    KnownAttribute::kRecipient};

// One reply line whatever went into it: settings, recipient domain, header.
std::string reply(std::string_view action) {
  std::string out = "action=";
  out.reserve(action.size() + 9);
  for (const char c : action) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  out += "\n\n";
  return out;
}

PolicyLogRecord peer_warning(std::string message) {
  return {PolicyLogRecord::Kind::kPeer, Severity::kWarning, std::move(message)};
}

// The server rate-limits kStore records (warnings and store failures).
PolicyLogRecord log_record(DecisionLogEntry entry) {
  switch (entry.kind) {
    case DecisionLogEntry::Kind::kDecision:
      return {PolicyLogRecord::Kind::kDecision, Severity::kInfo, std::move(entry.message)};
    case DecisionLogEntry::Kind::kWarning:
      return {PolicyLogRecord::Kind::kStore, Severity::kWarning, std::move(entry.message)};
    case DecisionLogEntry::Kind::kStoreFailure:
      break;
  }
  return {PolicyLogRecord::Kind::kStore, Severity::kError, std::move(entry.message)};
}

std::string value_or_empty(const PolicyRequest& request, KnownAttribute name) {
  const AttributeText* value = request.find(name);
  return value != nullptr ? std::string(*value) : std::string();
}

}  // namespace

PolicyResponder::PolicyResponder(const PolicySettings& settings, const Greylister& greylister,
                                 const Clock& clock)
    : settings_(&settings), greylister_(greylister), clock_(clock) {}

void PolicyResponder::use_settings(std::shared_ptr<const PolicySettings> settings) {
  held_settings_ = std::move(settings);
  settings_ = held_settings_.get();
}

std::string PolicyResponder::on_error_action() const {
  return settings_->common.on_error == OnError::kTempfail ? std::string(kTempfailReply)
                                                         : std::string("DUNNO");
}

std::string PolicyResponder::on_error_reply() const { return reply(on_error_action()); }

// An exception (out of memory) is answered like a store failure.
PolicyAnswer PolicyResponder::failed(const char* what) const {
  PolicyAnswer answer;
  answer.reply = on_error_reply();
  answer.log.push_back({PolicyLogRecord::Kind::kStore, Severity::kError,
                        std::string("policy request failed") +
                            (what != nullptr ? ": " + printable(what) : std::string())});
  return answer;
}

PolicyStep PolicyResponder::begin(const PolicyRequest& request) noexcept {
  try {
    return begin_or_throw(request);
  } catch (const std::exception& e) {
    return {failed(e.what()), std::nullopt};
  } catch (...) {
    return {failed(nullptr), std::nullopt};
  }
}

PolicyAnswer PolicyResponder::finish(const PolicyLookup& lookup, const DnsAnswers& answers) noexcept {
  try {
    const Decision decision = greylister_.decide(lookup.core, lookup.plan, answers);
    report_dns_answers(settings_->common.dns, lookup.plan.assessment.queries, answers);
    return decided(lookup.core, decision, {lookup.etrn, lookup.instance});
  } catch (const std::exception& e) {
    return failed(e.what());
  } catch (...) {
    return failed(nullptr);
  }
}

PolicyAnswer PolicyResponder::respond(const PolicyRequest& request) noexcept {
  PolicyStep step = begin(request);
  return step.lookup ? finish(*step.lookup, DnsAnswers{}) : std::move(step.answer);
}

// Once per connection (the first time): check_policy_service called at
// another stage than RCPT (smtpd_data_restrictions, ...) greylists
// nothing, which an administrator must learn. greylistctl check's probe
// (at VRFY, instance greylistctl.check) is not such a mistake.
std::string PolicyResponder::state_warning(const PolicyRequest& request) {
  const AttributeText* state = request.find(KnownAttribute::kProtocolState);
  if (warned_state_ || state == nullptr) return std::string();
  const AttributeText* instance = request.find(KnownAttribute::kInstance);
  if (instance != nullptr && *instance == "greylistctl.check") return std::string();
  warned_state_ = true;
  return "policy request at protocol_state=" + printable(*state, 64) +
         ": answered DUNNO, only RCPT is greylisted (check_policy_service belongs in "
         "smtpd_recipient_restrictions; not warned again on this connection)";
}

// Why `request` is answered DUNNO without a decision (nullopt: it is
// decided), with the warning to log ("" for none: a request at another
// stage than RCPT, see state_warning()).
std::optional<std::string> PolicyResponder::not_decided(const PolicyRequest& request) {
  if (request.malformed()) {
    std::string message = "malformed policy request: " + request.problem;
    if (request.problem_count > 1) {
      message += " (and " + std::to_string(request.problem_count - 1) + " more problems)";
    }
    return message;
  }
  const AttributeText* type = request.find(KnownAttribute::kRequest);
  if (type == nullptr || *type != "smtpd_access_policy") {
    return "unrecognized request type: '" + (type != nullptr ? printable(*type, 64) : "") + "'";
  }
  // postgrey greylists at whatever stage it is called from; at DATA or
  // END-OF-MESSAGE "recipient" is empty or the last one, and a decision
  // there would record nonsense triplets.
  if (const AttributeText* state = request.find(KnownAttribute::kProtocolState);
      state != nullptr && *state != "RCPT") {
    return std::string();
  }
  for (const KnownAttribute name : kRequiredAttributes) {
    if (request.find(name) == nullptr) {
      return "attribute missing: " + std::string(attribute_name(name));
    }
  }
  return std::nullopt;
}

PolicyStep PolicyResponder::begin_or_throw(const PolicyRequest& request) {
  PolicyStep step;
  if (auto warning = not_decided(request)) {
    if (warning->empty()) *warning = state_warning(request);  // the only silent case
    if (!warning->empty()) step.answer.log.push_back(peer_warning(std::move(*warning)));
    step.answer.reply = reply("DUNNO");
    return step;
  }

  Request core;
  core.client_address = value_or_empty(request, KnownAttribute::kClientAddress);
  core.client_name = value_or_empty(request, KnownAttribute::kClientName);
  if (core.client_name.empty()) core.client_name = "unknown";
  core.helo_name = value_or_empty(request, KnownAttribute::kHeloName);
  core.sender = value_or_empty(request, KnownAttribute::kSender);
  core.recipient = value_or_empty(request, KnownAttribute::kRecipient);
  core.sasl_username = value_or_empty(request, KnownAttribute::kSaslUsername);
  core.queue_id = value_or_empty(request, KnownAttribute::kQueueId);
  core.front_end = "policy";

  const bool etrn = request.find(KnownAttribute::kEtrnDomain) != nullptr;
  RulePlan plan = greylister_.plan(core);
  // A request the core's SMTP AUTH step passes needs no SPF result.
  auto spf = plan.smtp_auth_passes ? std::nullopt : spf_pool_identity(settings_->common.spf, core);
  if (!plan.assessment.queries.empty() || spf) {
    std::vector<std::string> names = query_names(plan.assessment.queries);
    step.lookup = PolicyLookup{std::move(core), std::move(plan), std::move(names), std::move(spf),
                               etrn, value_or_empty(request, KnownAttribute::kInstance)};
    return step;
  }
  const Decision decision = greylister_.decide(core, plan, DnsAnswers{});
  const AttributeText* instance = request.find(KnownAttribute::kInstance);
  step.answer = decided(core, decision,
                        {etrn, instance != nullptr ? std::string_view(*instance) : std::string_view()});
  return step;
}

PolicyAnswer PolicyResponder::decided(const Request& core, const Decision& decision,
                                      const ReplyContext& context) {
  PolicyAnswer answer;
  for (auto& entry : decision_log_entries(core, decision)) {
    answer.log.push_back(log_record(std::move(entry)));
  }
  answer.reply = reply(action_for(context, core, decision));
  return answer;
}

// The greylist reply: --greylist-action and --greylist-text, or a rule's
// code, ecode and msg in their place.
std::string PolicyResponder::greylist_action(const ReplyContext& context, const Request& core,
                                             const Decision& decision) const {
  const RuleReply rule = greylist_overrides(decision.rule);
  std::string text = !rule.text.empty()
                         ? rule.text
                         : format_greylist_text(settings_->common.greylist_text,
                                                decision.seconds_left, core.recipient);
  if (!rule.enhanced_code.empty()) {
    text = rule.enhanced_code + " " + text;
  } else if (context.etrn && (text.empty() || text.front() < '0' || text.front() > '9')) {
    // postgrey's work-around for Exchange, which needs a DSN code when it
    // talks ETRN; Postfix sends etrn_domain (maybe empty) in that case.
    text = "4.2.0 " + text;
  }
  return (rule.code.empty() ? settings_->greylist_action : rule.code) + " " + text;
}

std::string PolicyResponder::action_for(const ReplyContext& context, const Request& core,
                                        const Decision& decision) {
  switch (decision.action) {
    case Decision::Action::kGreylist:
      return greylist_action(context, core, decision);
    case Decision::Action::kReject: {
      const RuleReply rule = reject_reply(decision.rule);
      return rule.code + " " + rule.enhanced_code + " " + rule.text;
    }
    case Decision::Action::kPass: {
      if (!decision.delayed_seconds) break;
      if (!context.instance.empty() && context.instance == last_prepended_instance_) break;
      last_prepended_instance_ = std::string(context.instance);
      return "PREPEND " + format_greylist_header(settings_->common.header_template,
                                                 *decision.delayed_seconds,
                                                 settings_->common.hostname, clock_.now());
    }
    case Decision::Action::kWhitelisted:
      break;
    case Decision::Action::kError:
      return on_error_action();
  }
  return "DUNNO";
}

}  // namespace greylist
