// Fuzzes the record codec: arbitrary bytes as stored values (a corrupted
// database or a hostile shared store hands back anything) through
// decode_triplet/client/domain/trap and entry_expires_at(), and arbitrary fields
// through the key encoders.
//
// Invariants:
//  - decode(encode(r)) == r for every record a decoder accepted, and the
//    encoding of the current version is byte-for-byte what was decoded;
//  - entry_expires_at() of an accepted value is defined (no overflow) and
//    never before the entry was last seen;
//  - triplet keys are injective: the length prefixes give the fields back;
//  - the Greylister (with a greytrap rule), finding those bytes under the
//    triplet, client, domain and greytrap keys of a request, decides
//    without error or overflow, at any plausible time of day (a damaged
//    entry counts as absent); a greylisted request has seconds left.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "greylist/greylister.h"
#include "greylist/record_codec.h"
#include "store/memory_store.h"
#include "support/fake_clock.h"

namespace {

using namespace greylist;

bool same(const TripletRecord& a, const TripletRecord& b) {
  return a.first_seen == b.first_seen && a.last_seen == b.last_seen && a.passed == b.passed &&
         a.first_network == b.first_network;
}

// `count` "<len>:<bytes>" fields from the front of `key`; what follows them
// is left in `key`.
std::optional<std::vector<std::string>> split_fields(std::string_view& key, std::size_t count) {
  std::vector<std::string> fields;
  for (std::size_t i = 0; i < count; ++i) {
    const auto colon = key.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::size_t length = 0;
    const auto [ptr, ec] = std::from_chars(key.data(), key.data() + colon, length);
    if (ec != std::errc() || ptr != key.data() + colon || key.size() - colon - 1 < length) {
      return std::nullopt;
    }
    fields.emplace_back(key.substr(colon + 1, length));
    key.remove_prefix(colon + 1 + length);
  }
  return fields;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider provider(data, size);
  GreylistConfig config;
  config.retry_window = provider.ConsumeIntegralInRange<std::int64_t>(3600, 3650LL * 86400);
  config.max_age = provider.ConsumeIntegralInRange<std::int64_t>(86400, 3650LL * 86400);
  const auto table = provider.ConsumeBool() ? Table::kTriplets : Table::kClients;
  const std::string key_prefix = provider.PickValueInArray({"t1:", "c1:", "d1:", "g1:", "x"});
  const std::string client = provider.ConsumeRandomLengthString(64);
  const std::string sender = provider.ConsumeRandomLengthString(64);
  const std::string recipient = provider.ConsumeRandomLengthString(64);
  // 1970 to 2100: what a Clock may say (the values below may say anything).
  const EpochSeconds now = provider.ConsumeIntegralInRange<EpochSeconds>(0, 4'102'444'800);
  const std::string value = provider.ConsumeRemainingBytesAsString();

  if (const auto triplet = decode_triplet(value)) {
    const std::string encoded = encode_triplet(*triplet);
    const auto again = decode_triplet(encoded);
    FUZZ_CHECK(again.has_value() && same(*again, *triplet));
    if (value.size() == encoded.size()) FUZZ_CHECK(encoded == value);
    const EpochSeconds expires = triplet_expires_at(*triplet, config);
    FUZZ_CHECK(expires >= (triplet->passed ? triplet->last_seen : triplet->first_seen));
  }
  if (const auto client_record = decode_client(value)) {
    FUZZ_CHECK(encode_client(*client_record) == value);
    FUZZ_CHECK(client_expires_at(*client_record, config) >= client_record->last_seen);
  }
  if (const auto domain = decode_domain(value)) {
    FUZZ_CHECK(domain->sender_hashes.size() <= DomainRecord::kMaxSenders);
    FUZZ_CHECK(encode_domain(*domain) == value);
    FUZZ_CHECK(domain_expires_at(*domain, config) >= domain->last_seen);
  }
  if (const auto trap = decode_trap(value)) {
    FUZZ_CHECK(encode_trap(*trap) == value);
    FUZZ_CHECK(trap_expires_at(*trap) == trap->hold_until);
  }
  (void)entry_expires_at(table, key_prefix + client, value, config);

  const std::string key = encode_triplet_key(client, sender, recipient);
  FUZZ_CHECK(key.rfind("t1:", 0) == 0);
  std::string_view rest = std::string_view(key).substr(3);
  const auto fields = split_fields(rest, 3);
  FUZZ_CHECK(fields.has_value() && rest.empty());
  FUZZ_CHECK((*fields)[0] == client && (*fields)[1] == sender && (*fields)[2] == recipient);

  const std::string domain_key = encode_domain_key(client, sender);
  FUZZ_CHECK(domain_key.rfind("d1:", 0) == 0);
  rest = std::string_view(domain_key).substr(3);
  const auto domain_fields = split_fields(rest, 1);
  FUZZ_CHECK(domain_fields.has_value() && (*domain_fields)[0] == client && rest == sender);

  FUZZ_CHECK(encode_client_key(client) == "c1:" + client);
  FUZZ_CHECK(stable_hash(value) != 0);

  // The same bytes as found in a store by the Greylister.
  MemoryStore store;
  testing::FakeClock clock(now);
  GreylistConfig decide_config = config;
  decide_config.pool_by_domain = false;
  decide_config.delay = std::min<std::int64_t>(300, config.retry_window - 1);
  Greylister greylister(decide_config, store, clock);
  static const auto rules = RuleSet::parse("racl greytrap rcpt trap@example.net hold 1h\n", "fuzz");
  FUZZ_CHECK(rules.ok());
  greylister.set_rules(rules.value());
  Request request;
  request.client_address = "203.0.113.7";
  request.client_name = "mail.example.org";
  request.sender = "alice@example.org";
  request.recipient = "bob@example.net";
  FUZZ_CHECK(store.put(Table::kTriplets, greylister.triplet_key(request), value, 0).ok());
  FUZZ_CHECK(store.put(Table::kClients, greylister.client_key(request), value, 0).ok());
  FUZZ_CHECK(store.put(Table::kClients, greylister.domain_key(request), value, 0).ok());
  FUZZ_CHECK(store.put(Table::kClients, greylister.keys().greytrap_key(request), value, 0).ok());
  for (int i = 0; i < 3; ++i) {
    const Decision decision = greylister.decide(request);
    FUZZ_CHECK(decision.action != Decision::Action::kError);
    if (decision.delayed_seconds) FUZZ_CHECK(*decision.delayed_seconds >= 0);
    if (decision.action == Decision::Action::kGreylist) FUZZ_CHECK(decision.seconds_left >= 1);
    clock.advance(decide_config.delay + 1);
  }
  return 0;
}
