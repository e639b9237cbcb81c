#include "greylist/ip_address.h"

#include <doctest/doctest.h>

using namespace greylist;

TEST_SUITE("ip_address") {

TEST_CASE("parse accepts real addresses and rejects everything else") {
  CHECK(IpAddress::parse("192.0.2.1")->to_string() == "192.0.2.1");
  CHECK(IpAddress::parse("[2001:db8::1]")->to_string() == "2001:db8::1");
  CHECK(IpAddress::parse("::ffff:10.0.0.1")->family() == IpAddress::Family::kV4);
  for (const char* bad : {"", "1.2.3", "256.1.1.1", "1.2.3.4 ", "a::b::c", "localhost",
                          "1.2.3.4/24", "[", "[]", "IPv6:"}) {
    CAPTURE(bad);
    CHECK_FALSE(IpAddress::parse(bad));
  }
  CHECK_FALSE(IpAddress::parse(std::string(1000, '1')));
  CHECK_FALSE(IpAddress::parse(std::string("1.2.3.4\0", 8)));
}

TEST_CASE("networks contain what they should") {
  const auto net = IpNetwork::parse("192.168.0.0/16");
  REQUIRE(net);
  CHECK(net->contains(*IpAddress::parse("192.168.200.1")));
  CHECK_FALSE(net->contains(*IpAddress::parse("192.169.0.1")));
  CHECK_FALSE(net->contains(*IpAddress::parse("::ffff:c0a9:1")));
  const auto v6 = IpNetwork::parse("2001:db8::/32");
  REQUIRE(v6);
  CHECK(v6->contains(*IpAddress::parse("2001:db8:ffff::1")));
  CHECK_FALSE(v6->contains(*IpAddress::parse("2001:db9::1")));
  CHECK_FALSE(v6->contains(*IpAddress::parse("192.168.0.1")));
  const auto host = IpNetwork::parse("127.0.0.1");
  REQUIRE(host);
  CHECK(host->prefix() == 32);
  CHECK(IpNetwork::parse("10.1.2.3/8")->to_string() == "10.0.0.0/8");
  CHECK(IpNetwork::parse("0.0.0.0/0")->contains(*IpAddress::parse("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "::/129", "x/8", "10.0.0.0/8x"}) {
    CAPTURE(bad);
    CHECK_FALSE(IpNetwork::parse(bad));
  }
}

TEST_CASE("masking clears the host bits at odd prefixes") {
  CHECK(IpAddress::parse("10.20.30.255")->masked(28).to_string() == "10.20.30.240");
  CHECK(IpAddress::parse("10.20.30.255")->masked(0).to_string() == "0.0.0.0");
  CHECK(IpAddress::parse("2001:db8:1234:5678::1")->masked(36).to_string() == "2001:db8:1000::");
  CHECK(IpAddress::parse("10.20.30.255")->masked(99).to_string() == "10.20.30.255");
}

}  // TEST_SUITE
