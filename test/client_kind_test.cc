#include "greylist/client_kind.h"

#include <doctest/doctest.h>

#include <string>

using namespace greylist;

namespace {

struct Case {
  const char* name;
  const char* address;
  const char* registered_domain;  // as the Public Suffix List gives it
};

// Customer names in the shapes ISPs publish: address octets in decimal
// (dashes, dots, zero-padded, reversed) or hex, customer words, names
// whose numbers are not the address.
constexpr Case kDynamic[] = {
    {"c-73-45-12-9.hsd1.ca.comcast.net", "73.45.12.9", "comcast.net"},
    {"pool-71-105-12-34.nycmny.fios.verizon.net", "71.105.12.34", "verizon.net"},
    {"cpe-24-58-1-2.nycap.res.rr.com", "24.58.1.2", "rr.com"},
    {"99-12-34-56.lightspeed.sntcca.sbcglobal.net", "99.12.34.56", "sbcglobal.net"},
    {"ip68-100-1-2.ph.ph.cox.net", "68.100.1.2", "cox.net"},
    {"host86-123-45-6.range86-123.btcentralplus.com", "86.123.45.6", "btcentralplus.com"},
    {"p5b0c1d2e.dip0.t-ipconnect.de", "91.12.29.46", "t-ipconnect.de"},          // hex
    {"ool-1893ff71.dyn.optonline.net", "24.147.255.113", "optonline.net"},        // hex + dyn
    {"lfbn-lyo-1-234-56.w86-200.abo.wanadoo.fr", "86.200.58.56", "wanadoo.fr"},  // numbers
    {"95.red-83-45-12.dynamicip.rima-tde.net", "83.45.12.95", "rima-tde.net"},
    {"ip-077-097-056-041.um49.pools.vodafone-ip.de", "77.97.56.41", "vodafone-ip.de"},
    {"cpc12345-lond6-2-0-cust123.6-1.cable.virginm.net", "82.1.2.3", "virginm.net"},
    {"187-93-35-180.dsl.telesp.net.br", "187.93.35.180", "telesp.net.br"},
    {"broadband-46-242-12-34.ip.moscow.rt.ru", "46.242.12.34", "rt.ru"},
    {"dhcp-49-36-1-2.res.jio.in", "49.36.1.2", "jio.in"},
    {"b1771862341.dynamic.claro.net.br", "177.186.23.41", "claro.net.br"},
    {"4.3.2.1.static.host.claro.net.br", "1.2.3.4", "claro.net.br"},              // reversed
    {"static.4.3.2.1.clients.your-server.de", "1.2.3.4", "your-server.de"},       // hosting too
    {"1-2-3-4.ip.linodeusercontent.com", "1.2.3.4", "linodeusercontent.com"},
    {"adsl-74-12-3-4.dsl.bltnin.sbcglobal.net", "74.12.3.4", "sbcglobal.net"},
    {"mobile-166-1-2-3.mycingular.net", "166.1.2.3", "mycingular.net"},
    {"CPE-24-58-1-2.NYCAP.RES.RR.COM", "24.58.1.2", "rr.com"},                    // case
    {"c-73-45-12-9.hsd1.ca.comcast.net", "73.45.12.9", ""},                       // no PSL
    {"d14-69-12-34.try.wideopenwest.com", "24.1.2.3", "wideopenwest.com"},        // numbers only
    {"customer.dyn.2001-db8-1.isp.example", "2001:db8:1::5", "isp.example"},      // IPv6
};

// Mail servers, many with numbers, some with the address in the name.
constexpr Case kServer[] = {
    {"mail-wr1-f41.google.com", "209.85.221.41", "google.com"},
    {"mail-ej1-f54.google.com", "2a00:1450:4864:20::554", "google.com"},          // IPv6
    {"sonic310-23.consmr.mail.ir2.yahoo.com", "77.238.176.1", "yahoo.com"},
    {"mail-db8eur05olkn2104.outbound.protection.outlook.com", "40.92.1.2", "outlook.com"},
    {"out203-205-221-233.mail.qq.com", "203.205.221.233", "qq.com"},              // octets, yet mail
    {"smtp43.i.mail.ru", "94.100.1.2", "mail.ru"},
    {"forward101a.mail.yandex.net", "178.154.1.2", "yandex.net"},
    {"mout.gmx.net", "212.227.1.2", "gmx.net"},
    {"omr-m012.mx.aol.com", "64.12.1.2", "aol.com"},
    {"a8-123.smtp-out.amazonses.com", "54.240.8.123", "amazonses.com"},
    {"mail145.suw180.mcdlv.net", "198.2.180.145", "mcdlv.net"},
    {"o1.ptr2625.sendgrid.example", "167.89.1.1", "sendgrid.example"},
    {"mx01.example.de", "192.0.2.7", "example.de"},
    {"smtp-out-03.example.co.uk", "192.0.2.8", "example.co.uk"},
    {"mail2.dsl-tools.com", "192.0.2.9", "dsl-tools.com"},                        // word in the domain
    {"exchange.lindqvist7.se", "192.0.2.10", "lindqvist7.se"},
    {"vmi123456.contaboserver.net", "192.0.2.11", "contaboserver.net"},
    {"vps-1a2b3c4d.vps.ovh.net", "192.0.2.12", "ovh.net"},
    {"example.com", "192.0.2.13", "example.com"},                                 // the domain itself
    {"lists.debian.org", "82.195.75.100", "debian.org"},
};

// Names that encode nothing and carry no customer word: the rules cannot
// see them, and they are counted as servers (written down, not hidden).
constexpr Case kKnownMisses[] = {
    {"bba123456.alshamil.net.ae", "94.1.2.3", "alshamil.net.ae"},
};

}  // namespace

TEST_SUITE("client_kind") {

TEST_CASE("ISP customer names count as dynamic") {
  for (const auto& c : kDynamic) {
    CAPTURE(c.name);
    CHECK(classify_client(c.name, c.address, c.registered_domain) == ClientKind::kDynamic);
  }
}

TEST_CASE("mail servers count as servers, numbers or not") {
  for (const auto& c : kServer) {
    CAPTURE(c.name);
    CHECK(classify_client(c.name, c.address, c.registered_domain) == ClientKind::kServer);
  }
}

TEST_CASE("names that encode nothing are not caught") {
  for (const auto& c : kKnownMisses) {
    CAPTURE(c.name);
    CHECK(classify_client(c.name, c.address, c.registered_domain) == ClientKind::kServer);
  }
}

TEST_CASE("clients without a usable name are unknown") {
  CHECK(classify_client("unknown", "192.0.2.1") == ClientKind::kUnknown);
  CHECK(classify_client("UNKNOWN", "2001:db8::1") == ClientKind::kUnknown);
  CHECK(classify_client("", "192.0.2.1") == ClientKind::kUnknown);
  CHECK(classify_client("[192.0.2.1]", "192.0.2.1") == ClientKind::kUnknown);
  CHECK(classify_client("bad name.example.com", "192.0.2.1") == ClientKind::kUnknown);
  CHECK(classify_client(std::string("a\0b.example.com", 15), "192.0.2.1") == ClientKind::kUnknown);
  CHECK(classify_client(std::string(254, 'a'), "192.0.2.1") == ClientKind::kUnknown);
}

TEST_CASE("the address octets count only when they are this client's") {
  // the same shape, another client's numbers: nothing else says dynamic
  CHECK(classify_client("p5b0c1d2e.dip0.isp.example", "91.12.29.46", "isp.example") ==
        ClientKind::kDynamic);
  CHECK(classify_client("p5b0c1d2e.dip0.isp.example", "192.0.2.1", "isp.example") ==
        ClientKind::kServer);
  CHECK(classify_client("ip73x45-12.isp.example", "73.45.12.9", "isp.example") ==
        ClientKind::kDynamic);
  CHECK(classify_client("ip73x45-12.isp.example", "192.0.2.1", "isp.example") ==
        ClientKind::kServer);
  // an unparsable address is no address: only words and numbers count
  CHECK(classify_client("c-73-45-12-9.isp.example", "garbage", "isp.example") ==
        ClientKind::kDynamic);  // four numeric labels
  CHECK(classify_client("ip68-100.isp.example", "garbage", "isp.example") == ClientKind::kServer);
  // IPv6 clients: words and numeric labels only
  CHECK(classify_client("2001-db8-0-1.pool.isp.example", "2001:db8::1", "isp.example") ==
        ClientKind::kDynamic);
  CHECK(classify_client("host1.isp.example", "2001:db8::1", "isp.example") == ClientKind::kServer);
}

TEST_CASE("names of the kinds") {
  CHECK(std::string(to_string(ClientKind::kUnknown)) == "unknown");
  CHECK(std::string(to_string(ClientKind::kDynamic)) == "dynamic");
  CHECK(std::string(to_string(ClientKind::kServer)) == "server");
}

}  // TEST_SUITE
