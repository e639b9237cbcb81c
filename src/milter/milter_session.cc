#include "milter/milter_session.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "greylist/log_line.h"
#include "greylist/reply_text.h"
#include "greylist/rule_reply.h"
#include "util/log.h"

namespace greylist {
namespace {

// Postfix's "on --on-error tempfail" answer.
constexpr std::string_view kErrorCode = "451";
constexpr std::string_view kErrorEnhancedCode = "4.3.0";
constexpr std::string_view kErrorText = "Greylisting temporarily unavailable, please try again later";

// One store failure per RCPT would otherwise flood the log.
RateLimitedLog& store_log() {
  static RateLimitedLog log(kStoreFailureLogInterval);
  return log;
}

// What both front ends log for a decision (log_line.h), written here.
void log_decision(const Request& request, const Decision& decision) {
  for (const auto& entry : decision_log_entries(request, decision)) {
    switch (entry.kind) {
      case DecisionLogEntry::Kind::kDecision:
        if (decision_lines_logged()) log_info(entry.message);
        break;
      case DecisionLogEntry::Kind::kWarning: store_log().log(Severity::kWarning, entry.message); break;
      case DecisionLogEntry::Kind::kStoreFailure:
        store_log().log(Severity::kError, entry.message);
        break;
    }
  }
}

std::string_view not_delayed_why(const Decision& decision) {
  switch (decision.reason) {
    case Decision::Reason::kRecipientWhitelist: return kNotDelayedRecipientWhitelist;
    case Decision::Reason::kSmtpAuth: return kNotDelayedAuthenticated;
    case Decision::Reason::kSkipNetwork: return kNotDelayedSkipNetwork;
    case Decision::Reason::kNoClientAddress: return kNotDelayedLocal;
    case Decision::Reason::kStoreError: return kNotDelayedError;
    case Decision::Reason::kNew:
    case Decision::Reason::kEarlyRetry:
    case Decision::Reason::kTripletFound:
    case Decision::Reason::kPool: return kNotDelayedPassedBefore;
    case Decision::Reason::kRuleWhitelist: return kNotDelayedRuleWhitelist;
    case Decision::Reason::kRuleBlacklist:
    case Decision::Reason::kGreytrap:
    case Decision::Reason::kClientWhitelist:
    case Decision::Reason::kClientAwl:
    case Decision::Reason::kDomainAwl: break;
  }
  return kNotDelayedClientWhitelist;
}

std::string cut(std::string_view text) {
  return std::string(text.substr(0, std::min(text.size(), kMaxMilterField)));
}

// "<a@b>" -> "a@b"; "<>" -> "" (the null sender). Anything else as is.
std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string envelope_address(std::string_view text) {
  text = trimmed(text);
  if (text.size() >= 2 && text.front() == '<' && text.back() == '>') {
    text = trimmed(text.substr(1, text.size() - 2));
  }
  return cut(text);
}

bool is_valid_reply_code(std::string_view code) {
  return code.size() == 3 && code[0] == '4' && std::isdigit(static_cast<unsigned char>(code[1])) &&
         std::isdigit(static_cast<unsigned char>(code[2]));
}

// "4.d{1,3}.d{1,3}", as libmilter's and Postfix's checks want it.
bool is_valid_enhanced_code(std::string_view code) {
  if (code.size() < 5 || code[0] != '4' || code[1] != '.') return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (i < code.size() && std::isdigit(static_cast<unsigned char>(code[i])) && digits < 4) {
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3) return false;
    if (part == 0) {
      if (i >= code.size() || code[i] != '.') return false;
      ++i;
    }
  }
  return i == code.size();
}

}  // namespace

std::string escape_milter_reply(std::string_view text) {
  text = text.substr(0, std::min(text.size(), kMaxReplyText));
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '%') {
      out += "%%";
    } else if (u < 0x20 || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out;
}

Result<MilterContext> make_milter_context(MilterSettings settings, const Greylister& greylister,
                                          const Clock& clock) {
  if (!is_valid_reply_code(settings.reply_code)) {
    return Status::InvalidArgument("milter reply code '" + settings.reply_code +
                                   "' must be a 4xx SMTP code such as 450");
  }
  if (!is_valid_enhanced_code(settings.enhanced_code)) {
    return Status::InvalidArgument("milter enhanced code '" + settings.enhanced_code +
                                   "' must be a 4.x.y enhanced status code such as 4.2.0");
  }
  MilterContext context;
  for (const auto& text : settings.skip_networks) {
    auto network = IpNetwork::parse(text);
    if (!network) {
      return Status::InvalidArgument("skip network '" + text +
                                     "' is not an address or CIDR network");
    }
    context.skip_networks.push_back(*network);
  }
  context.header_name = split_header(settings.common.header_template).first;
  context.settings = std::move(settings);
  context.greylister = &greylister;
  context.clock = &clock;
  return context;
}

MilterSession::MilterSession(const MilterContext& context) : context_(context) {}

MilterSession::MilterSession(std::shared_ptr<const MilterContext> context)
    : held_context_(std::move(context)), context_(*held_context_) {}

void MilterSession::connect(std::string_view hostname, std::optional<IpAddress> address) {
  request_ = Request{};
  request_.front_end = "milter";
  skip_.reset();
  reset_message();
  // Postfix passes "[192.0.2.1]" (sendmail style) when the client has no
  // verified name; postgrey and the policy path call that "unknown".
  if (!hostname.empty() && hostname.front() != '[') request_.client_name = cut(hostname);
  if (!address) {
    skip_ = make_decision(Decision::Action::kWhitelisted, Decision::Reason::kNoClientAddress);
    return;
  }
  request_.client_address = address->to_string();
  for (const auto& network : context_.skip_networks) {
    if (network.contains(*address)) {
      skip_ = make_decision(Decision::Action::kWhitelisted, Decision::Reason::kSkipNetwork,
                            network.to_string());
      break;
    }
  }
}

std::string MilterSession::skip_reason() const { return skip_ ? reason_text(*skip_) : std::string(); }

void MilterSession::helo(std::string_view helo_name) { request_.helo_name = cut(helo_name); }

void MilterSession::mail_from(std::string_view sender, std::string_view auth_authen) {
  reset_message();
  request_.sender = envelope_address(sender);
  request_.sasl_username = cut(auth_authen);
}

void MilterSession::set_queue_id(std::string_view queue_id) {
  request_.queue_id = std::string(queue_id.substr(0, std::min<std::size_t>(queue_id.size(), 64)));
}

RcptReply MilterSession::rcpt_to(std::string_view recipient) {
  request_.recipient = envelope_address(recipient);
  if (skip_) {
    log_decision(request_, *skip_);
    note_accepted(not_delayed_why(*skip_), std::nullopt);
    return {};
  }

  const Decision decision = decide();
  log_decision(request_, decision);
  switch (decision.action) {
    case Decision::Action::kGreylist:
      return greylist_reply(decision);
    case Decision::Action::kReject: {
      const RuleReply rule = reject_reply(decision.rule);
      RcptReply reply;
      reply.reject = true;
      reply.code = rule.code;
      reply.enhanced_code = rule.enhanced_code;
      reply.text = escape_milter_reply(rule.text);
      return reply;
    }
    case Decision::Action::kPass:
      note_accepted(not_delayed_why(decision), decision.delayed_seconds);
      return {};
    case Decision::Action::kWhitelisted:
      note_accepted(not_delayed_why(decision), std::nullopt);
      return {};
    case Decision::Action::kError:
      break;
  }
  RcptReply reply = rcpt_reply_on_error(context_.settings.common.on_error);
  if (!reply.tempfail) note_accepted(not_delayed_why(decision), std::nullopt);
  return reply;
}

void MilterSession::check_spf_once() {
  if (spf_checked_) return;
  // A milter thread may block: libmilter gives each connection its own.
  check_spf_and_wait(context_.settings.common.spf, request_);
  spf_checked_ = true;
}

Decision MilterSession::decide() {
  const Greylister& greylister = *context_.greylister;
  const RulePlan plan = greylister.plan(request_);  // reads no SPF result
  if (!plan.smtp_auth_passes) check_spf_once();
  const Request& request = request_;
  const std::vector<DnsQuery>& queries = plan.assessment.queries;
  if (queries.empty()) return greylister.decide(request, plan, DnsAnswers{});
  const DnsLists& lists = context_.settings.common.dns;
  const DnsAnswers answers = lists.resolver != nullptr
                                 ? resolve_and_wait(*lists.resolver, query_names(queries), lists.timeout)
                                 : DnsAnswers{};
  Decision decision = greylister.decide(request, plan, answers);
  report_dns_answers(lists, queries, answers);
  return decision;
}

// --milter-reply-code, --milter-enhanced-code and --greylist-text, or a
// greylist or greytrap rule's code, ecode and msg in their place.
RcptReply MilterSession::greylist_reply(const Decision& decision) const {
  const RuleReply rule = greylist_overrides(decision.rule);
  RcptReply reply;
  reply.tempfail = true;
  reply.code = !rule.code.empty() ? rule.code : context_.settings.reply_code;
  reply.enhanced_code = !rule.enhanced_code.empty() ? rule.enhanced_code
                                                    : context_.settings.enhanced_code;
  reply.text = escape_milter_reply(
      !rule.text.empty() ? rule.text
                         : format_greylist_text(context_.settings.common.greylist_text,
                                                decision.seconds_left, request_.recipient));
  return reply;
}

std::optional<MilterHeader> MilterSession::end_of_message() {
  std::optional<MilterHeader> header;
  const auto& common = context_.settings.common;
  std::string text;
  if (max_delay_) {
    text = format_greylist_header(common.header_template, *max_delay_, common.hostname,
                                  context_.clock->now());
  } else if (context_.settings.header_always && !not_delayed_why_.empty()) {
    const std::string header_template =
        context_.header_name + ": " + not_delayed_why_ + ", not delayed by greylist-milter-%v at %h; %d";
    text = format_greylist_header(header_template, 0, common.hostname, context_.clock->now());
  }
  if (!text.empty()) {
    auto [name, value] = split_header(text);
    header = MilterHeader{std::move(name), std::move(value)};
  }
  reset_message();
  return header;
}

void MilterSession::abort() { reset_message(); }

void MilterSession::reset_message() {
  request_.sender.clear();
  request_.recipient.clear();
  request_.queue_id.clear();
  request_.sasl_username.clear();
  request_.spf_pass_domain.clear();
  spf_checked_ = false;
  max_delay_.reset();
  not_delayed_why_.clear();
}

RcptReply rcpt_reply_on_error(OnError on_error) {
  RcptReply reply;
  if (on_error == OnError::kAccept) return reply;
  reply.tempfail = true;
  reply.code = std::string(kErrorCode);
  reply.enhanced_code = std::string(kErrorEnhancedCode);
  reply.text = std::string(kErrorText);
  return reply;
}

void MilterSession::note_accepted(std::string_view not_delayed_why,
                                  std::optional<std::int64_t> delayed) {
  if (delayed) max_delay_ = std::max(max_delay_.value_or(0), *delayed);
  if (not_delayed_why_.empty()) not_delayed_why_ = std::string(not_delayed_why);
}

}  // namespace greylist
