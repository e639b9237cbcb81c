#include "greylist/registered_domains.h"

#include <doctest/doctest.h>

using namespace greylist;

TEST_SUITE("public_suffix_list") {

TEST_CASE("registered domains from the real Public Suffix List") {
  auto psl = open_public_suffix_list();
  REQUIRE(psl.ok());
  const RegisteredDomains& domains = *psl.value();
  CHECK(domains.registered_domain("mail-db8eur05on2101.outbound.protection.outlook.com") ==
        "outlook.com");
  CHECK(domains.registered_domain("MAIL-WR1-F41.Google.COM") == "google.com");
  CHECK(domains.registered_domain("mx.example.co.uk") == "example.co.uk");  // multi-label suffix
  CHECK(domains.registered_domain("a.b.example.com.au") == "example.com.au");
  CHECK_FALSE(domains.registered_domain("co.uk"));       // a public suffix itself
  CHECK_FALSE(domains.registered_domain("localhost"));   // no dot
  CHECK_FALSE(domains.registered_domain("192.0.2.1"));   // an address, not a name
  CHECK_FALSE(domains.registered_domain("unknown"));
  CHECK_FALSE(domains.registered_domain(""));
  CHECK_FALSE(domains.registered_domain("bad name.example.com"));
  CHECK_FALSE(domains.registered_domain(std::string(300, 'a') + ".com"));
  CHECK_FALSE(domains.registered_domain(std::string("a\0b.example.com", 15)));
}

}  // TEST_SUITE
