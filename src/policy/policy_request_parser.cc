#include "policy/policy_request_parser.h"

#include <algorithm>
#include <cstring>

#include "greylist/log_line.h"

namespace greylist {
namespace {

constexpr std::size_t kQuoteBytes = 100;  // of a bad line, in a problem text
// Room reserved for a request as it starts: Postfix 3.7 sends about 30
// attributes in 600-900 bytes.
constexpr std::size_t kTypicalRequestBytes = 1024;
constexpr std::size_t kTypicalAttributes = 32;

std::string line_label(std::size_t line_number) { return "line " + std::to_string(line_number); }

}  // namespace

PolicyRequestParser::PolicyRequestParser(PolicyLimits limits) : limits_(limits) {}

PolicyRequestParser::Outcome PolicyRequestParser::consume(std::string_view& input) {
  while (violation_.empty()) {
    if (input.empty()) return Outcome::kNeedMore;
    const auto newline = input.find('\n');
    const bool ends_line = newline != std::string_view::npos;
    const std::size_t segment = ends_line ? newline : input.size();
    const std::size_t taken = ends_line ? segment + 1 : segment;

    // Bounds first, before anything is buffered. A line may momentarily
    // hold one byte more than the limit: a "\r" whose "\n" has not come yet.
    const std::string_view line = current_.attributes.pending();
    const std::size_t length = line.size() + segment;
    const char last = segment > 0 ? input[segment - 1] : (line.empty() ? '\0' : line.back());
    if (length > limits_.max_line_bytes + 1 ||
        (length == limits_.max_line_bytes + 1 && last != '\r')) {
      fail("line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
      break;
    }
    if (request_bytes_ + taken > limits_.max_request_bytes) {
      fail("request longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
      break;
    }

    if (request_bytes_ == 0) {
      current_.attributes.reserve(std::min(kTypicalRequestBytes, limits_.max_request_bytes),
                                  std::min(kTypicalAttributes, limits_.max_attributes));
    }
    current_.attributes.append_pending(input.substr(0, segment));
    request_bytes_ += taken;
    input.remove_prefix(taken);
    if (!ends_line) return Outcome::kNeedMore;

    const std::string_view ended = current_.attributes.pending();
    if (!ended.empty() && ended.back() == '\r') current_.attributes.drop_pending_back(1);
    if (current_.attributes.pending().empty()) {
      complete_ = std::move(current_);
      current_ = PolicyRequest{};
      line_number_ = 0;
      request_bytes_ = 0;
      return Outcome::kRequest;
    }
    finish_line();
  }
  return Outcome::kViolation;
}

void PolicyRequestParser::finish_line() {
  if (++line_number_ > limits_.max_attributes) {
    fail("more than " + std::to_string(limits_.max_attributes) + " attributes in a request");
    return;
  }
  PolicyAttributes& attributes = current_.attributes;
  const std::string_view line = attributes.pending();
  if (std::memchr(line.data(), '\0', line.size()) != nullptr) {
    add_problem(line_label(line_number_) + " contains a NUL byte: " + printable(line, kQuoteBytes));
  }
  const auto equals = line.find('=');
  if (equals == std::string_view::npos) {
    add_problem(line_label(line_number_) + " has no '=': " + printable(line, kQuoteBytes));
    attributes.drop_pending();
    return;
  }
  if (equals == 0) {
    add_problem(line_label(line_number_) + " has an empty attribute name: " +
                printable(line, kQuoteBytes));
  }
  const std::string_view name = line.substr(0, equals);
  // add_pending() may not move the bytes, so `name` stays valid.
  if (!attributes.add_pending(equals) && equals > 0) {
    add_problem(line_label(line_number_) + " repeats attribute '" + printable(name, kQuoteBytes) +
                "'");
  }
}

void PolicyRequestParser::add_problem(std::string problem) {
  if (current_.problem_count++ == 0) current_.problem = std::move(problem);
}

void PolicyRequestParser::fail(std::string violation) {
  violation_ = std::move(violation);
  current_ = PolicyRequest{};
}

PolicyRequest PolicyRequestParser::take_request() {
  PolicyRequest out = std::move(complete_);
  complete_ = PolicyRequest{};
  return out;
}

}  // namespace greylist
