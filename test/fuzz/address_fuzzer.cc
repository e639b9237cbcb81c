// Fuzzes address normalization: IpAddress / IpNetwork parsing and their
// canonical text, client_network(), normalize_sender(), normalize_recipient()
// and address_domain(). The first bytes choose the configuration, the rest
// is one untrusted string (a client_address, a sender, a recipient).
//
// Invariants:
//  - an address's canonical text parses back to the same address and is a
//    fixed point; masking is idempotent and a network contains its base;
//  - a network's text parses back to the same network;
//  - client_network() of a parsable address is a parsable address, stable
//    under a second application; otherwise it is the input lower-cased;
//  - normalize_sender() never grows the input, keeps '@' iff the input has
//    one, and leaves no ASCII upper case; normalize_recipient() keeps the
//    length; address_domain() is a suffix of its input.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "fuzz_check.h"
#include "greylist/ip_address.h"
#include "greylist/triplet.h"

namespace {

using greylist::GreylistConfig;
using greylist::IpAddress;
using greylist::IpNetwork;

bool has_upper(const std::string& text) {
  for (const char c : text) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

void check_address(const IpAddress& address, int prefix) {
  const std::string text = address.to_string();
  FUZZ_CHECK(text != "?");
  const auto again = IpAddress::parse(text);
  FUZZ_CHECK(again.has_value() && *again == address);
  FUZZ_CHECK(again->to_string() == text);
  const IpAddress masked = address.masked(prefix);
  FUZZ_CHECK(masked.family() == address.family());
  FUZZ_CHECK(masked.masked(prefix) == masked);
  FUZZ_CHECK(address.masked(address.bits()) == address);
  FUZZ_CHECK(IpNetwork(address, prefix).contains(address));
  // Bracketed and "IPv6:" forms are the same address.
  FUZZ_CHECK(IpAddress::parse("[" + text + "]") == address);
  if (address.family() == IpAddress::Family::kV6) {
    FUZZ_CHECK(IpAddress::parse("IPv6:" + text) == address);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  GreylistConfig config;
  config.lookup_by_host = provider.ConsumeBool();
  config.ipv4_cidr = provider.ConsumeIntegralInRange<int>(1, 32);
  config.ipv6_cidr = provider.ConsumeIntegralInRange<int>(1, 128);
  const int prefix = provider.ConsumeIntegralInRange<int>(-8, 136);  // masked() clamps
  const std::string text = provider.ConsumeRemainingBytesAsString();

  const auto address = IpAddress::parse(text);
  if (address) check_address(*address, prefix);

  if (const auto network = IpNetwork::parse(text)) {
    FUZZ_CHECK(network->prefix() >= 0 && network->prefix() <= network->base().bits());
    FUZZ_CHECK(network->contains(network->base()));
    const auto again = IpNetwork::parse(network->to_string());
    FUZZ_CHECK(again.has_value());
    FUZZ_CHECK(again->base() == network->base() && again->prefix() == network->prefix());
  }

  const std::string client = greylist::client_network(text, config);
  if (address) {
    const auto parsed = IpAddress::parse(client);
    FUZZ_CHECK(parsed.has_value() && parsed->family() == address->family());
    FUZZ_CHECK(greylist::client_network(client, config) == client);
  } else {
    FUZZ_CHECK(client.size() == text.size() && !has_upper(client));
  }

  const std::string sender = greylist::normalize_sender(text);
  FUZZ_CHECK(sender.size() <= text.size());
  FUZZ_CHECK((sender.find('@') != std::string::npos) == (text.find('@') != std::string::npos));
  FUZZ_CHECK(!has_upper(sender));

  const std::string recipient = greylist::normalize_recipient(text);
  FUZZ_CHECK(recipient.size() == text.size() && !has_upper(recipient));

  const std::string_view domain = greylist::address_domain(text);
  FUZZ_CHECK(domain.size() <= text.size());
  FUZZ_CHECK(std::string_view(text).substr(text.size() - domain.size()) == domain);
  return 0;
}
