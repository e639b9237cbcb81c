// Fuzzes PolicyRequestParser with arbitrary bytes, arriving in arbitrary
// chunks, under small fuzzer-chosen limits (so every bound is reached).
//
// Invariants checked, beyond "no crash, no sanitizer report":
//  - consume() honours its contract: kNeedMore eats all the input, kRequest
//    stops just after a "\n", a violation sticks and eats nothing more;
//  - no request is held beyond the bounds: the bytes consumed for one
//    request never exceed max_request_bytes, its attributes never exceed
//    max_attributes, no attribute line exceeds max_line_bytes;
//  - a well-formed request has unique, non-empty names without '=', and no
//    NUL or '\n' anywhere;
//  - the outcome does not depend on how the bytes were split: the same bytes
//    fed at once give the same requests, and a violation either way (which
//    bound is reported first may differ when a line breaks two at once).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "policy/policy_request_parser.h"

namespace {

using greylist::PolicyLimits;
using greylist::PolicyRequest;
using greylist::PolicyRequestParser;

struct Transcript {
  std::vector<PolicyRequest> requests;
  std::string violation;
  bool unfinished = false;
};

void check_request(const PolicyRequest& request, const PolicyLimits& limits) {
  FUZZ_CHECK(request.attributes.size() <= limits.max_attributes);
  FUZZ_CHECK(request.malformed() == !request.problem.empty());
  std::size_t bytes = 0;
  std::set<std::string> names;
  for (const auto& [name, value] : request.attributes) {
    FUZZ_CHECK(name.size() + 1 + value.size() <= limits.max_line_bytes);
    FUZZ_CHECK(name.find('=') == std::string::npos);
    FUZZ_CHECK(name.find('\n') == std::string::npos);
    FUZZ_CHECK(value.find('\n') == std::string::npos);
    bytes += name.size() + 1 + value.size() + 1;
    if (!request.malformed()) {
      FUZZ_CHECK(!name.empty());
      FUZZ_CHECK(name.find('\0') == std::string::npos);
      FUZZ_CHECK(value.find('\0') == std::string::npos);
      FUZZ_CHECK(names.insert(name).second);
      FUZZ_CHECK(request.find(name) == &value);
    }
  }
  FUZZ_CHECK(bytes <= limits.max_request_bytes);
  // The problem text is quoted input made printable: it is one log line.
  for (const char c : request.problem) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
  }
}

// Feeds `chunks` one after the other, as reads from a socket would.
Transcript run(const PolicyLimits& limits, const std::vector<std::string>& chunks) {
  PolicyRequestParser parser(limits);
  Transcript out;
  std::size_t since_request = 0;  // bytes consumed for the request in progress
  for (const std::string& chunk : chunks) {
    std::string_view input = chunk;
    while (true) {
      const std::size_t before = input.size();
      const auto outcome = parser.consume(input);
      const std::size_t eaten = before - input.size();
      since_request += eaten;
      FUZZ_CHECK(since_request <= limits.max_request_bytes);
      if (outcome == PolicyRequestParser::Outcome::kNeedMore) {
        FUZZ_CHECK(input.empty());
        FUZZ_CHECK(parser.in_request() == (since_request > 0));
        break;
      }
      if (outcome == PolicyRequestParser::Outcome::kViolation) {
        FUZZ_CHECK(!parser.violation().empty());
        out.violation = parser.violation();
        // It sticks, whatever comes next.
        std::string_view more = "a=b\n\n";
        FUZZ_CHECK(parser.consume(more) == PolicyRequestParser::Outcome::kViolation);
        FUZZ_CHECK(more.size() == 5);
        return out;
      }
      FUZZ_CHECK(eaten > 0);
      FUZZ_CHECK(chunk[static_cast<std::size_t>(input.data() - chunk.data()) - 1] == '\n');
      FUZZ_CHECK(!parser.in_request());
      since_request = 0;
      PolicyRequest request = parser.take_request();
      check_request(request, limits);
      out.requests.push_back(std::move(request));
      if (input.empty()) break;
    }
  }
  out.unfinished = parser.in_request();
  return out;
}

bool same(const PolicyRequest& a, const PolicyRequest& b) {
  return a.attributes == b.attributes && a.problem == b.problem &&
         a.problem_count == b.problem_count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  PolicyLimits limits;
  limits.max_line_bytes = provider.ConsumeIntegralInRange<std::size_t>(1, 512);
  limits.max_attributes = provider.ConsumeIntegralInRange<std::size_t>(1, 64);
  limits.max_request_bytes = provider.ConsumeIntegralInRange<std::size_t>(1, 8192);

  // Chunk sizes first (one byte each, up to 16 chunks), then the stream.
  std::vector<std::size_t> sizes(provider.ConsumeIntegralInRange<std::size_t>(0, 16));
  for (auto& chunk_size : sizes) chunk_size = provider.ConsumeIntegral<std::uint8_t>();
  const std::string stream = provider.ConsumeRemainingBytesAsString();

  std::vector<std::string> chunks;
  std::size_t at = 0;
  for (const std::size_t chunk_size : sizes) {
    if (at >= stream.size()) break;
    chunks.push_back(stream.substr(at, chunk_size));
    at += chunks.back().size();
  }
  if (at < stream.size()) chunks.push_back(stream.substr(at));

  const Transcript chunked = run(limits, chunks);
  const Transcript whole = run(limits, {stream});
  FUZZ_CHECK(chunked.violation.empty() == whole.violation.empty());
  FUZZ_CHECK(chunked.unfinished == whole.unfinished);
  FUZZ_CHECK(chunked.requests.size() == whole.requests.size());
  for (std::size_t i = 0; i < whole.requests.size(); ++i) {
    FUZZ_CHECK(same(chunked.requests[i], whole.requests[i]));
  }
  return 0;
}
