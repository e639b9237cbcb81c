#include "policy/policy_request_parser.h"

#include <cstring>

#include "greylist/log_line.h"

namespace greylist {
namespace {

constexpr std::size_t kQuoteBytes = 100;  // of a bad line, in a problem text

}  // namespace

const std::string* PolicyRequest::find(std::string_view name) const {
  for (const auto& [attribute, value] : attributes) {
    if (attribute == name) return &value;
  }
  return nullptr;
}

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
    const std::size_t length = line_.size() + segment;
    const char last = segment > 0 ? input[segment - 1] : (line_.empty() ? '\0' : line_.back());
    if (length > limits_.max_line_bytes + 1 ||
        (length == limits_.max_line_bytes + 1 && last != '\r')) {
      fail("line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
      break;
    }
    if (request_bytes_ + taken > limits_.max_request_bytes) {
      fail("request longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
      break;
    }

    line_.append(input.data(), segment);
    request_bytes_ += taken;
    input.remove_prefix(taken);
    if (!ends_line) return Outcome::kNeedMore;

    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
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
  const std::string where = "line " + std::to_string(line_number_);
  if (std::memchr(line_.data(), '\0', line_.size()) != nullptr) {
    add_problem(where + " contains a NUL byte: " + printable(line_, kQuoteBytes));
  }
  const auto equals = line_.find('=');
  if (equals == std::string::npos) {
    add_problem(where + " has no '=': " + printable(line_, kQuoteBytes));
  } else {
    std::string name = line_.substr(0, equals);
    std::string value = line_.substr(equals + 1);
    if (name.empty()) {
      add_problem(where + " has an empty attribute name: " + printable(line_, kQuoteBytes));
    } else if (current_.find(name) != nullptr) {
      add_problem(where + " repeats attribute '" + printable(name, kQuoteBytes) + "'");
    }
    current_.attributes.emplace_back(std::move(name), std::move(value));
  }
  line_.clear();
}

void PolicyRequestParser::add_problem(std::string problem) {
  if (current_.problem_count++ == 0) current_.problem = std::move(problem);
}

void PolicyRequestParser::fail(std::string violation) {
  violation_ = std::move(violation);
  line_.clear();
  line_.shrink_to_fit();
  current_ = PolicyRequest{};
}

PolicyRequest PolicyRequestParser::take_request() {
  PolicyRequest out = std::move(complete_);
  complete_ = PolicyRequest{};
  return out;
}

}  // namespace greylist
