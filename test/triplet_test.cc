#include "greylist/triplet.h"

#include <doctest/doctest.h>

using namespace greylist;

TEST_SUITE("triplet") {

TEST_CASE("client network: IPv4 /24 and IPv6 /64 by default, canonical text") {
  GreylistConfig config;
  CHECK(client_network("1.2.3.4", config) == "1.2.3.0");
  CHECK(client_network("203.0.113.7", config) == "203.0.113.0");
  CHECK(client_network("2a00:1:2:3:4::1", config) == "2a00:1:2:3::");
  CHECK(client_network("2A00:0001:0002:0003:0004:0000:0000:0001", config) == "2a00:1:2:3::");
  // postgrey keys ::ffff:1.2.3.4 as an IPv6 network of zeros; one client, one key here.
  CHECK(client_network("::ffff:1.2.3.4", config) == "1.2.3.0");
  CHECK(client_network("IPv6:2001:db8::1", config) == "2001:db8::");
}

TEST_CASE("client network: custom prefixes and lookup by host") {
  GreylistConfig config;
  config.ipv4_cidr = 16;
  config.ipv6_cidr = 48;
  CHECK(client_network("10.20.30.40", config) == "10.20.0.0");
  CHECK(client_network("2001:db8:aaaa:bbbb::1", config) == "2001:db8:aaaa::");
  config.ipv4_cidr = 28;
  CHECK(client_network("10.20.30.47", config) == "10.20.30.32");
  config.lookup_by_host = true;
  CHECK(client_network("10.20.30.47", config) == "10.20.30.47");
  CHECK(client_network("2001:DB8::0001", config) == "2001:db8::1");
}

TEST_CASE("client network as admins read it: with its prefix length, the stored text unchanged") {
  GreylistConfig config;
  CHECK(client_network_text("10.61.1.7", config) == "10.61.1.0/24");
  CHECK(client_network_text("2001:db8:1:2::7", config) == "2001:db8:1:2::/64");
  CHECK(network_with_prefix("10.61.1.0", config) == "10.61.1.0/24");
  CHECK(network_with_prefix("2001:db8:1:2::", config) == "2001:db8:1:2::/64");
  config.ipv4_cidr = 16;
  config.ipv6_cidr = 48;
  CHECK(client_network_text("10.61.1.7", config) == "10.61.0.0/16");
  CHECK(client_network_text("2001:db8:1:2::7", config) == "2001:db8:1::/48");
  config.lookup_by_host = true;
  CHECK(client_network_text("10.61.1.7", config) == "10.61.1.7/32");
  CHECK(client_network_text("2001:db8::1", config) == "2001:db8::1/128");
  // Not an address: as it is.
  CHECK(network_with_prefix("not-an-ip", config) == "not-an-ip");
}

TEST_CASE("client network: garbage is kept, lower-cased, never fails") {
  GreylistConfig config;
  CHECK(client_network("Not-An-IP", config) == "not-an-ip");
  CHECK(client_network("", config) == "");
  CHECK(client_network("1.2.3.4.5", config) == "1.2.3.4.5");
  CHECK(client_network(std::string(200, 'x'), config) == std::string(200, 'x'));
}

TEST_CASE("sender normalization follows postgrey") {
  CHECK(normalize_sender("a@foo.test") == "a@foo.test");
  CHECK(normalize_sender("Alice@Foo.TEST") == "alice@foo.test");
  CHECK(normalize_sender("") == "");                      // null sender
  CHECK(normalize_sender("MAILER-DAEMON") == "mailer-daemon");
  CHECK(normalize_sender("user+ext@foo.test") == "user@foo.test");
  CHECK(normalize_sender("user+a+b@foo.test") == "user@foo.test");
  CHECK(normalize_sender("bounce-12-34@list.test") == "bounce-#-#@list.test");
  CHECK(normalize_sender("a123@foo.test") == "a123@foo.test");    // not a whole word
  CHECK(normalize_sender("123abc@foo.test") == "123abc@foo.test");
  CHECK(normalize_sender("12_3@foo.test") == "12_3@foo.test");    // '_' is a word character
  CHECK(normalize_sender("42@foo.test") == "#@foo.test");
  CHECK(normalize_sender("a.7.b@foo.test") == "a.#.b@foo.test");
  // The domain keeps its digits.
  CHECK(normalize_sender("x@mx1.123.test") == "x@mx1.123.test");
}

TEST_CASE("sender normalization: BATV") {
  CHECK(normalize_sender("prvs=0123456789=a@foo.test") == "a@foo.test");
  CHECK(normalize_sender("prvs=a=0123456789@foo.test") == "a@foo.test");   // reversed order
  CHECK(normalize_sender("PRVS=0123456789=Bob@foo.test") == "bob@foo.test");
  CHECK(normalize_sender("prvs=short=a@foo.test") == "a@foo.test");        // neither is a tag
  CHECK(normalize_sender("prvs=x=y=z@foo.test") == "prvs=x=y=z@foo.test"); // not 3 parts
  CHECK(normalize_sender("prvs=0123456789=user+ext@foo.test") == "user@foo.test");
}

TEST_CASE("sender normalization: an '@' in the local part splits at the first one") {
  CHECK(normalize_sender("\"a@b\"@foo.test") == "\"a@b\"@foo.test");
  CHECK(normalize_sender("@") == "@");
}

TEST_CASE("recipient and domain") {
  CHECK(normalize_recipient("Bob+Tag@Bar.TEST") == "bob+tag@bar.test");  // no +ext stripping
  CHECK(address_domain("b@Bar.test") == "Bar.test");
  CHECK(address_domain("\"x@y\"@z.test") == "z.test");
  CHECK(address_domain("postmaster") == "postmaster");
}

}  // TEST_SUITE
