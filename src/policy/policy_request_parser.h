// PolicyRequestParser: turns the bytes of a Postfix policy-delegation
// connection into requests (SMTPD_POLICY_README). Pure: no I/O, no logging.
//
// Wire format: "name=value" lines, each ended by "\n" (a "\r\n" is accepted
// and the "\r" dropped), an empty line ends the request. A line is split at
// its FIRST '=' (Postfix attribute names never contain '='; postgrey splits
// at the last one). Names and values are opaque bytes: no UTF-8 check, no
// trimming; whoever logs them uses greylist::printable().
//
// Two kinds of trouble:
//  - Breaking a bound (PolicyLimits) is FATAL for the connection: the parser
//    stops, consume() returns kViolation from then on, and the caller logs
//    violation() as a warning and closes. A bound is checked as the bytes
//    arrive, so an over-long line is refused without being buffered whole.
//  - Everything else wrong with a request makes it MALFORMED: it is still
//    delivered (so the reply stream stays in step with the client) with
//    problem() set, and the responder answers it "action=DUNNO" with a
//    warning. Malformed are: a line without '=', an empty attribute name,
//    a NUL byte anywhere in a line, and an attribute given twice. Duplicates
//    are refused rather than resolved (first or last wins) because Postfix
//    never sends one twice, and a second "recipient=" or "client_address="
//    is an attempt to make the log and the decision disagree.
//
// Each byte of a request is copied once, into the request's own buffer
// (PolicyAttributes); names and values are views into it, and the
// attributes the core needs are indexed while they are read.
//
// Not thread-safe; one parser per connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "policy/policy_attributes.h"

namespace greylist {

struct PolicyLimits {
  std::size_t max_line_bytes = 4096;      // one line, not counting "\n" or "\r\n"
  std::size_t max_attributes = 256;       // non-empty lines per request (with or without '=')
  std::size_t max_request_bytes = 65536;  // every byte of a request, terminators included
};

// One request as received.
struct PolicyRequest {
  // Every "name=value" line in arrival order (a malformed request may hold
  // a name twice; find() then returns the first). Lines without '=' are
  // not here, only in `problem`.
  PolicyAttributes attributes;
  // Empty when well-formed; otherwise the first problem, printable
  // ("line 3 has no '=': ..."), with problem_count counting all of them.
  std::string problem;
  std::size_t problem_count = 0;

  bool malformed() const { return problem_count > 0; }
  // The value of attribute `name`, nullptr when absent; valid as long as
  // `attributes` is unchanged. The KnownAttribute form is constant time.
  const AttributeText* find(std::string_view name) const { return attributes.find(name); }
  const AttributeText* find(KnownAttribute name) const { return attributes.find(name); }
};

class PolicyRequestParser {
 public:
  enum class Outcome {
    kNeedMore,   // all of the input was consumed; no request is complete yet
    kRequest,    // a request is complete: take_request()
    kViolation,  // a bound was broken: violation() says which; close the connection
  };

  explicit PolicyRequestParser(PolicyLimits limits);

  // Consumes bytes from the front of `input` up to and including the empty
  // line that ends the next request (then returns kRequest, leaving the rest
  // of `input` for the next call), or all of `input` (kNeedMore). After a
  // violation nothing more is consumed and every call returns kViolation.
  // Memory held is bounded by max_request_bytes plus one line.
  Outcome consume(std::string_view& input);

  // The request completed by the last consume() that returned kRequest.
  PolicyRequest take_request();

  // Why the bound was broken (printable, one line); empty before that.
  const std::string& violation() const { return violation_; }

  // True when bytes of an unfinished request are buffered (a peer that
  // closes now has sent an incomplete request).
  bool in_request() const { return request_bytes_ > 0; }

 private:
  void finish_line();
  void add_problem(std::string problem);
  void fail(std::string violation);

  PolicyLimits limits_;
  std::size_t line_number_ = 0;  // non-empty lines of the current request so far
  std::size_t request_bytes_ = 0;
  PolicyRequest current_;
  PolicyRequest complete_;
  std::string violation_;
};

}  // namespace greylist
