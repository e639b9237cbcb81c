#include "dns/dns_reply.h"

#include <ares.h>
#include <doctest/doctest.h>

#include <vector>

#include "dns/dns_failure_log.h"
#include "dns/dns_servers.h"

using namespace greylist;

namespace {

void put16(std::vector<unsigned char>& out, unsigned value) {
  out.push_back(static_cast<unsigned char>(value >> 8));
  out.push_back(static_cast<unsigned char>(value));
}
void put32(std::vector<unsigned char>& out, unsigned value) {
  put16(out, value >> 16);
  put16(out, value & 0xffff);
}
void put_name(std::vector<unsigned char>& out, const std::vector<std::string>& labels) {
  for (const auto& label : labels) {
    out.push_back(static_cast<unsigned char>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
}

// An NXDOMAIN reply for 2.0.0.127.bl.example with an SOA (TTL soa_ttl,
// MINIMUM minimum) in the authority section.
std::vector<unsigned char> nxdomain(unsigned soa_ttl, unsigned minimum) {
  std::vector<unsigned char> out;
  put16(out, 0x1234);
  put16(out, 0x8183);  // response, RD, RA, NXDOMAIN
  put16(out, 1);
  put16(out, 0);
  put16(out, 1);
  put16(out, 0);
  put_name(out, {"2", "0", "0", "127", "bl", "example"});
  put16(out, 1);
  put16(out, 1);
  out.push_back(0xc0);  // the zone, compressed: "bl.example" at offset 12 + 10
  out.push_back(12 + 10);
  put16(out, 6);
  put16(out, 1);
  put32(out, soa_ttl);
  std::vector<unsigned char> rdata;
  put_name(rdata, {"ns", "bl", "example"});
  put_name(rdata, {"hostmaster", "bl", "example"});
  for (int i = 0; i < 4; ++i) put32(rdata, 1000);
  put32(rdata, minimum);
  put16(out, static_cast<unsigned>(rdata.size()));
  out.insert(out.end(), rdata.begin(), rdata.end());
  return out;
}

}  // namespace

TEST_SUITE("dns_reply") {

TEST_CASE("negative TTL: the smaller of the SOA's TTL and MINIMUM") {
  auto reply = nxdomain(3600, 900);
  CHECK(negative_ttl(reply.data(), static_cast<int>(reply.size())) == std::chrono::seconds(900));
  reply = nxdomain(60, 900);
  CHECK(negative_ttl(reply.data(), static_cast<int>(reply.size())) == std::chrono::seconds(60));
  const DnsReply read = read_dns_reply(ARES_ENOTFOUND, reply.data(), static_cast<int>(reply.size()));
  CHECK(read.answer.kind == DnsAnswer::Kind::kNotListed);
  CHECK(read.ttl == std::chrono::seconds(60));
}

TEST_CASE("negative TTL: every truncation of a reply is read safely") {
  const auto reply = nxdomain(3600, 900);
  for (std::size_t size = 0; size < reply.size(); ++size) {
    CAPTURE(size);
    CHECK_FALSE(negative_ttl(reply.data(), static_cast<int>(size)));
  }
  CHECK_FALSE(negative_ttl(nullptr, 0));
}

TEST_CASE("failures: timeouts, server failures, refusals") {
  for (int status : {ARES_ETIMEOUT, ARES_ESERVFAIL, ARES_EREFUSED, ARES_ECONNREFUSED, ARES_ECANCELLED}) {
    CAPTURE(status);
    const DnsReply read = read_dns_reply(status, nullptr, 0);
    CHECK(read.answer.kind == DnsAnswer::Kind::kFailed);
    CHECK_FALSE(read.ttl);
  }
  const unsigned char garbage[] = {1, 2, 3};
  CHECK(read_dns_reply(ARES_SUCCESS, garbage, 3).answer.kind == DnsAnswer::Kind::kFailed);
}

TEST_CASE("zone of a query name, for the failure log") {
  CHECK(DnsFailureLog::zone_of("2.0.0.127.bl.example") == "bl.example");
  CHECK(DnsFailureLog::zone_of("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example") ==
        "bl.example");
  CHECK(DnsFailureLog::zone_of("www.example") == "www.example");
  CHECK(DnsFailureLog::zone_of("300.0.0.127.bl.example") == "300.0.0.127.bl.example");
}

TEST_CASE("--dns-server values") {
  CHECK(parse_dns_server("192.0.2.1").value().port == 53);
  CHECK(parse_dns_server("192.0.2.1:5353").value().port == 5353);
  CHECK(parse_dns_server("2001:db8::1").value().ipv6);
  CHECK(parse_dns_server("[2001:db8::1]:5353").value().port == 5353);
  CHECK(parse_dns_server("[2001:db8::1]").value().address == "2001:db8::1");
  for (const char* bad : {"", "dns.example", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:x",
                          "[2001:db8::1", "[2001:db8::1]x", "[192.0.2.1]:53x"}) {
    CAPTURE(bad);
    const auto parsed = parse_dns_server(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message().rfind("bad --dns-server", 0) == 0);
  }
  CHECK(dns_servers_csv({parse_dns_server("192.0.2.1").value(),
                         parse_dns_server("[2001:db8::1]:5353").value()}) ==
        "192.0.2.1:53,[2001:db8::1]:5353");
}

}
