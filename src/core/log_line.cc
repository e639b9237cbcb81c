#include "greylist/log_line.h"

#include <cstdio>

namespace greylist {
namespace {

void append_attribute(std::string& line, std::string_view name, std::string_view value) {
  if (value.empty()) return;  // postgrey leaves out false (empty) attributes
  line += ", ";
  line += name;
  line += '=';
  line += printable(value);
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + 8);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  return out;
}

std::string decision_log_line(const Request& request, const Decision& decision) {
  std::string line;
  if (!request.queue_id.empty()) {
    line += printable(request.queue_id, 32);
    line += ": ";
  }
  line += "action=";
  line += action_log_word(decision.action);
  if (const std::string reason = reason_text(decision); !reason.empty()) {
    line += ", reason=";
    line += printable(reason);
  }
  if (decision.delayed_seconds) {
    line += ", delay=" + std::to_string(*decision.delayed_seconds);
  }
  if (decision.rule) append_attribute(line, "rule", decision.rule->rule.to_string());
  append_attribute(line, "client_name", request.client_name);
  append_attribute(line, "client_address", request.client_address);
  append_attribute(line, "sender", request.sender);
  append_attribute(line, "recipient", request.recipient);
  return line;
}

std::string whitelisted_log_line(const Request& request) {
  const bool named = !request.client_name.empty() && request.client_name != "unknown";
  return "whitelisted: " + (named ? printable(request.client_name) + "[" +
                                        printable(request.client_address) + "]"
                                  : printable(request.client_address));
}

std::vector<DecisionLogEntry> decision_log_entries(const Request& request,
                                                   const Decision& decision) {
  using Kind = DecisionLogEntry::Kind;
  std::vector<DecisionLogEntry> entries;
  entries.push_back({Kind::kDecision, decision_log_line(request, decision)});
  if (!decision.warning.empty()) entries.push_back({Kind::kWarning, printable(decision.warning)});
  if (decision.client_newly_whitelisted) {
    entries.push_back({Kind::kDecision, whitelisted_log_line(request)});
  }
  if (decision.action == Decision::Action::kError) {
    entries.push_back({Kind::kStoreFailure, "greylist store failed, answering by --on-error: " +
                                                printable(reason_text(decision))});
  }
  return entries;
}

}  // namespace greylist
