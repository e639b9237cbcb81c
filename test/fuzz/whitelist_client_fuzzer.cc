// Fuzzes the client whitelist: one raw line of a whitelist_clients file
// (the input's first line) parsed as the loader does, then matched against
// every following line as a client name and, when it parses, as an address.
//
// Invariants: a rule the parser accepts behaves as its syntax says
// (StaticWhitelist's header): a name rule matches its own name (unless
// ".name") and any name under it, case ignored, and never "unknown"; a
// network contains its base and prints as text that parses back to it.
#include <string>
#include <string_view>

#include "core/whitelist_rules.h"
#include "fuzz_check.h"

namespace {

namespace wl = greylist::whitelist;
using greylist::IpAddress;
using greylist::IpNetwork;

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

void check_rule(const wl::ClientRule& rule) {
  FUZZ_CHECK(!wl::matches_name(rule, ""));
  FUZZ_CHECK(!wl::matches_name(rule, "unknown"));
  FUZZ_CHECK(!wl::matches_name(rule, "UNKNOWN"));
  if (const auto* suffix = std::get_if<wl::NameSuffix>(&rule)) {
    FUZZ_CHECK(!suffix->suffix.empty() && suffix->suffix.size() <= 253);
    FUZZ_CHECK(suffix->suffix.front() != '.');
    if (suffix->suffix != "unknown") {
      FUZZ_CHECK(wl::matches_name(rule, suffix->suffix) == !suffix->subdomains_only);
      FUZZ_CHECK(wl::matches_name(rule, upper(suffix->suffix)) == !suffix->subdomains_only);
    }
    FUZZ_CHECK(wl::matches_name(rule, "mx1." + suffix->suffix));
    FUZZ_CHECK(!wl::matches_name(rule, "mx1" + suffix->suffix));
  }
  if (const auto* network = std::get_if<wl::Network>(&rule)) {
    const IpNetwork& net = network->network;
    FUZZ_CHECK(wl::matches_address(rule, net.base()));
    FUZZ_CHECK(!wl::matches_name(rule, net.base().to_string()));
    const auto again = IpNetwork::parse(net.to_string());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->base() == net.base() && again->prefix() == net.prefix());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  std::string_view subjects =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  if (line.size() > wl::kMaxLineBytes) return 0;  // the loader refuses such a line
  const std::string_view text = wl::rule_text(line);
  if (text.empty()) return 0;  // a blank or comment line: no rule
  FUZZ_CHECK(text.find('#') == std::string_view::npos);
  auto parsed = wl::parse_client_rule(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.status().message().empty());
    return 0;
  }
  const wl::ClientRule& rule = parsed.value();
  check_rule(rule);

  while (!subjects.empty()) {
    const auto end = subjects.find('\n');
    const std::string_view subject = subjects.substr(0, end);
    subjects = end == std::string_view::npos ? std::string_view() : subjects.substr(end + 1);
    (void)wl::matches_name(rule, subject);
    if (const auto address = IpAddress::parse(subject)) {
      const bool matched = wl::matches_address(rule, *address);
      if (const auto* network = std::get_if<wl::Network>(&rule)) {
        FUZZ_CHECK(matched == network->network.contains(*address));
      } else {
        FUZZ_CHECK(!matched);  // name rules never match by address
      }
    }
  }
  return 0;
}
