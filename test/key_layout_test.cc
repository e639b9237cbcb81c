#include "greylist/key_layout.h"

#include <doctest/doctest.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace greylist;

namespace {

// "file:line: text" for every spelling of a key prefix or of the pool
// marker in `text` (a prefix preceded by a letter, digit or '_' is part of
// another word, e.g. "ipv6_c1:"; the marker counts only as a string literal).
std::vector<std::string> key_spellings(const std::string& name, const std::string& text) {
  static const std::string_view kWords[] = {
      kTripletKeyPrefix,       kClientKeyPrefix,       kDomainKeyPrefix,
      kHashedTripletKeyPrefix, kHashedClientKeyPrefix, kHashedDomainKeyPrefix,
      kGreytrapKeyPrefix,      kHashedGreytrapKeyPrefix};
  const std::string quoted_marker = "\"" + std::string(kPoolMarker);
  std::vector<std::string> found;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    bool hit = line.find(quoted_marker) != std::string::npos;
    for (const std::string_view word : kWords) {
      for (auto at = line.find(word); !hit && at != std::string::npos; at = line.find(word, at + 1)) {
        const char before = at == 0 ? ' ' : line[at - 1];
        hit = std::isalnum(static_cast<unsigned char>(before)) == 0 && before != '_';
      }
    }
    if (hit) found.push_back(name + ":" + std::to_string(number) + ": " + line);
  }
  return found;
}

}  // namespace

TEST_SUITE("key_layout") {

TEST_CASE("keys are spelled as the header documents") {
  CHECK(encode_triplet_key("192.0.2.0", "a@b.test", "c@d.test") ==
        "t1:9:192.0.2.08:a@b.test8:c@d.test");
  CHECK(encode_client_key("192.0.2.0") == "c1:192.0.2.0");
  CHECK(encode_domain_key("192.0.2.0", "b.test") == "d1:9:192.0.2.0b.test");
  CHECK(pool_client("outlook.com") == "pool:outlook.com");
  CHECK(pool_domain("pool:outlook.com") == std::optional<std::string_view>("outlook.com"));
  CHECK_FALSE(pool_domain("192.0.2.0"));
  const std::string hashed = hashed_key(KeyKind::kClient, "c1:192.0.2.0", "secret");
  CHECK(hashed.starts_with("c1h:"));
  CHECK(hashed.size() == 4 + 64);
  CHECK(hashed != hashed_key(KeyKind::kClient, "c1:192.0.2.0", "other secret"));
  CHECK(key_kind("t1h:00") == KeyKind::kTriplet);
  CHECK(key_kind("d1:1:xy") == KeyKind::kDomain);
  CHECK(key_kind("c1:x") == KeyKind::kClient);
  CHECK(encode_greytrap_key("192.0.2.0") == "g1:192.0.2.0");
  CHECK(key_kind("g1:192.0.2.0") == KeyKind::kGreytrap);
  CHECK(key_kind("g1h:00") == KeyKind::kGreytrap);
  CHECK(greytrap_key_network("g1:2001:db8::") == std::optional<std::string_view>("2001:db8::"));
  CHECK_FALSE(greytrap_key_network("g1h:00"));
  CHECK_FALSE(greytrap_key_network("c1:192.0.2.0"));
  CHECK_FALSE(key_kind("x1:"));
  CHECK(keyed_hash64("192.0.2.0", "k") != keyed_hash64("192.0.2.0", "l"));
}

TEST_CASE("RecordKeys apply --privacy and --pool-by-domain") {
  Request r;
  r.client_address = "192.0.2.7";
  r.client_name = "mail.foo.test";  // a server: its client AWL key is its network
  r.sender = "A@Foo.Test";
  r.recipient = "b@bar.test";
  GreylistConfig config;
  const RecordKeys plain(config, nullptr);
  CHECK(plain.triplet_key(r) == encode_triplet_key("192.0.2.0", "a@foo.test", "b@bar.test"));
  CHECK(plain.client_key(r) == "c1:192.0.2.0");
  CHECK(plain.domain_key(r) == encode_domain_key("192.0.2.0", "foo.test"));
  r.sender.clear();
  CHECK(plain.domain_key(r).empty());
  config.privacy = true;
  config.privacy_key = "secret";
  const RecordKeys hashed(config, nullptr);
  CHECK(hashed.client_key(r) == hashed_key(KeyKind::kClient, "c1:192.0.2.0", "secret"));
  // A greytrap is keyed on the network even for a pooled, named client.
  CHECK(plain.greytrap_key(r) == "g1:192.0.2.0");
  CHECK(plain.greytrap_key_of("192.0.2.200") == "g1:192.0.2.0");
  CHECK(hashed.greytrap_key(r) == hashed_key(KeyKind::kGreytrap, "g1:192.0.2.0", "secret"));
}

TEST_CASE("--pool-by-spf keys an SPF pass on the sender's domain, anything else by network") {
  GreylistConfig config;
  config.pool_by_domain = false;
  config.pool_by_spf = true;
  const RecordKeys keys(config, nullptr);
  Request first;
  first.client_address = "192.0.2.7";
  first.sender = "a@foo.test";
  first.recipient = "b@bar.test";
  first.spf_pass_domain = "foo.test";
  Request retry = first;
  retry.client_address = "198.51.100.9";  // another network the domain authorizes
  CHECK(keys.triplet_client(first) == "pool:spf:foo.test");
  CHECK(pool_domain(keys.triplet_client(first)) == std::optional<std::string_view>("spf:foo.test"));
  CHECK(keys.triplet_key(first) == keys.triplet_key(retry));
  CHECK(keys.triplet_key(first) == encode_triplet_key(spf_pool_client("foo.test"), "a@foo.test",
                                                      "b@bar.test"));
  // fail, softfail, neutral, none, temperror, permerror and the null sender
  // leave spf_pass_domain empty: the network, as without the option.
  Request failed = retry;
  failed.spf_pass_domain.clear();
  CHECK(keys.triplet_client(failed) == "198.51.100.0");
  CHECK(keys.triplet_key(failed) != keys.triplet_key(first));
  Request bounce = first;
  bounce.sender.clear();
  bounce.spf_pass_domain.clear();
  CHECK(keys.triplet_client(bounce) == "192.0.2.0");
  // The option off: a pass is ignored.
  config.pool_by_spf = false;
  CHECK(RecordKeys(config, nullptr).triplet_client(first) == "192.0.2.0");
  // The sender-domain auto-whitelist counts the domain's senders from the
  // whole pool its SPF authorizes; without a pass, per network.
  CHECK(keys.domain_key(first) == encode_domain_key("pool:spf:foo.test", "foo.test"));
  CHECK(keys.domain_key(retry) == keys.domain_key(first));
  CHECK(keys.domain_key(failed) == encode_domain_key("198.51.100.0", "foo.test"));
  CHECK(keys.domain_key(bounce).empty());
  CHECK(RecordKeys(config, nullptr).domain_key(first) == encode_domain_key("192.0.2.0", "foo.test"));
  // The client auto-whitelist and greytraps stay on the network.
  CHECK(keys.client_key(first) == "c1:192.0.2.7");
  CHECK(keys.greytrap_key(first) == "g1:192.0.2.0");
}

TEST_CASE("no file under src/ or include/ but the key module spells a key prefix") {
  const std::filesystem::path root(SOURCE_ROOT);
  std::vector<std::string> found;
  std::size_t files = 0;
  for (const char* dir : {"src", "include"}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root / dir)) {
      const auto& path = entry.path();
      if (!entry.is_regular_file() || path.stem() == "key_layout") continue;
      if (path.extension() != ".cc" && path.extension() != ".h") continue;
      std::ifstream in(path, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      const auto hits = key_spellings(path.lexically_relative(root).string(), text.str());
      found.insert(found.end(), hits.begin(), hits.end());
      ++files;
    }
  }
  CHECK(files > 50);
  for (const auto& hit : found) MESSAGE(hit);
  CHECK(found.empty());
  // The scan itself finds a spelling.
  CHECK(key_spellings("x.cc", "  return \"pool:\" + d;").size() == 1);
  CHECK(key_spellings("x.cc", "// (t1:..., c1:...)").size() == 1);
  CHECK(key_spellings("x.cc", "int ipv6_c1: 3;").empty());
}

}  // TEST_SUITE
