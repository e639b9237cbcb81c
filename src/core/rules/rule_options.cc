#include "core/rules/rule_options.h"

#include <string>

#include "core/rules/duration.h"
#include "greylist/log_line.h"

namespace greylist::rules {
namespace {

bool takes(RuleAction action, std::string_view option) {
  const bool reply = option == "code" || option == "ecode" || option == "msg";
  const bool timing = option == "delay" || option == "autowhite";
  switch (action) {
    case RuleAction::kGreylist:
    case RuleAction::kContinue: return reply || timing;
    case RuleAction::kGreytrap: return reply || option == "hold";
    case RuleAction::kBlacklist: return reply;
    case RuleAction::kWhitelist: return false;
  }
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool valid_code(std::string_view code) {
  return code.size() == 3 && (code[0] == '4' || code[0] == '5') && is_digit(code[1]) &&
         is_digit(code[2]);
}

// "C.S.D": class one digit, subject and detail 1 to 3 digits each.
bool valid_ecode(std::string_view ecode) {
  if (ecode.size() < 5 || (ecode[0] != '4' && ecode[0] != '5') || ecode[1] != '.') return false;
  std::size_t digits = 0;
  int dots = 1;
  for (std::size_t i = 2; i < ecode.size(); ++i) {
    if (is_digit(ecode[i])) {
      if (++digits > 3) return false;
    } else if (ecode[i] == '.' && digits > 0 && dots == 1) {
      digits = 0;
      dots = 2;
    } else {
      return false;
    }
  }
  return dots == 2 && digits > 0;
}

Status valid_message(std::string_view msg) {
  if (msg.empty()) return Status::InvalidArgument("msg is empty");
  if (msg.size() > kMaxMessageBytes) {
    return Status::InvalidArgument("msg longer than " + std::to_string(kMaxMessageBytes) + " bytes");
  }
  for (const char c : msg) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
      return Status::InvalidArgument("msg must be printable ASCII");
    }
  }
  return Status::Ok();
}

template <typename T>
Status set_once(std::optional<T>& slot, T value, std::string_view word) {
  if (slot) return Status::InvalidArgument(std::string(word) + " given twice");
  slot = std::move(value);
  return Status::Ok();
}

}  // namespace

bool is_option_word(std::string_view word) {
  return word == "delay" || word == "autowhite" || word == "hold" || word == "code" ||
         word == "ecode" || word == "msg";
}

Status parse_option(std::string_view word, const Token& value, RuleOptions& options) {
  if (value.kind != Token::Kind::kWord && value.kind != Token::Kind::kString) {
    return Status::InvalidArgument(std::string(word) + " needs a value, found " + describe(value));
  }
  const std::string& text = value.text;
  if (word == "delay" || word == "autowhite" || word == "hold") {
    auto duration = parse_duration(text);
    if (!duration.ok()) return duration.status();
    if (word == "hold" && duration.value().count() == 0) {
      return Status::InvalidArgument("hold must be longer than 0");
    }
    auto& slot = word == "delay" ? options.delay : word == "autowhite" ? options.autowhite : options.hold;
    return set_once(slot, duration.value(), word);
  }
  if (word == "code") {
    if (!valid_code(text)) return Status::InvalidArgument("code must be 4NN or 5NN, not " + describe(value));
    return set_once(options.code, text, word);
  }
  if (word == "ecode") {
    if (!valid_ecode(text)) {
      return Status::InvalidArgument("ecode must look like 4.7.1 or 5.7.1, not " + describe(value));
    }
    return set_once(options.ecode, text, word);
  }
  if (Status status = valid_message(text); !status.ok()) return status;
  return set_once(options.msg, text, word);
}

Status check_options(RuleAction action, const RuleOptions& options) {
  const std::pair<const char*, bool> given[] = {
      {"delay", options.delay.has_value()}, {"autowhite", options.autowhite.has_value()},
      {"hold", options.hold.has_value()},   {"code", options.code.has_value()},
      {"ecode", options.ecode.has_value()}, {"msg", options.msg.has_value()}};
  for (const auto& [name, set] : given) {
    if (set && !takes(action, name)) {
      return Status::InvalidArgument(std::string("option '") + name + "' is not supported on a " +
                                     rule_action_name(action) + " rule");
    }
  }
  const char wanted = action == RuleAction::kBlacklist ? '5' : '4';
  if (options.code && options.code->front() != wanted) {
    return Status::InvalidArgument(std::string("code of a ") + rule_action_name(action) +
                                   " rule must start with " + wanted);
  }
  if (options.ecode && options.ecode->front() != wanted) {
    return Status::InvalidArgument(std::string("ecode of a ") + rule_action_name(action) +
                                   " rule must start with " + wanted);
  }
  return Status::Ok();
}

RuleOptions options_for(RuleAction action, const RuleOptions& options) {
  RuleOptions out;
  if (takes(action, "delay")) out.delay = options.delay;
  if (takes(action, "autowhite")) out.autowhite = options.autowhite;
  if (takes(action, "hold")) out.hold = options.hold;
  if (takes(action, "code")) {
    out.code = options.code;
    out.ecode = options.ecode;
    out.msg = options.msg;
  }
  return out;
}

}  // namespace greylist::rules
