#include "greylist/static_whitelist.h"

#include <doctest/doctest.h>

#include <fstream>

#include "core/whitelist_rules.h"
#include "support/temp_dir.h"

using namespace greylist;

namespace {

struct Files {
  greylist::testing::TempDir scratch{"whitelist"};
  std::string dir = scratch.path();
  std::string write(const std::string& name, const std::string& content) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << content;
    return path;
  }
};

Request request(std::string name, std::string address, std::string recipient) {
  Request r;
  r.client_name = std::move(name);
  r.client_address = std::move(address);
  r.sender = "s@x.test";
  r.recipient = std::move(recipient);
  return r;
}

}  // namespace

TEST_SUITE("static_whitelist") {

TEST_CASE("matches name, then address, then recipient, naming file, line and rule") {
  Files f;
  const auto clients = f.write("whitelist_clients",
                               "# providers\n\n.outlook.com   # Microsoft 365\n203.0.113.0/24\n"
                               "/^mx[0-9]+\\.example\\.net$/\n");
  const auto recipients = f.write("whitelist_recipients", "postmaster@\nabuse@\n");
  auto loaded = StaticWhitelist::load({{clients, false}}, {{recipients, false}});
  REQUIRE(loaded.ok());
  const auto& w = *loaded.value().whitelist;
  CHECK(w.client_rule_count() == 3);
  CHECK(w.recipient_rule_count() == 2);

  auto m = w.match(request("a.b.outlook.com", "198.51.100.1", "x@y.test"));
  REQUIRE(m);
  CHECK(m->list == WhitelistMatch::List::kClients);
  CHECK(m->rule == "whitelist_clients:3 .outlook.com");

  m = w.match(request("unknown", "203.0.113.9", "x@y.test"));
  REQUIRE(m);
  CHECK(m->rule == "whitelist_clients:4 203.0.113.0/24");

  m = w.match(request("mx12.example.net", "198.51.100.1", "x@y.test"));
  REQUIRE(m);
  CHECK(m->rule == "whitelist_clients:5 /^mx[0-9]+\\.example\\.net$/");

  m = w.match(request("unknown", "198.51.100.1", "Abuse@y.test"));
  REQUIRE(m);
  CHECK(m->list == WhitelistMatch::List::kRecipients);
  CHECK(m->rule == "whitelist_recipients:2 abuse@");

  CHECK_FALSE(w.match(request("unknown", "198.51.100.1", "x@y.test")));
  CHECK_FALSE(w.match(request("mail.example.org", "not-an-ip", "x@y.test")));
}

TEST_CASE("name rules: the first matching rule in file order is the one reported") {
  Files f;
  const auto clients = f.write("whitelist_clients",
                               "/^mx[0-9]\\.example\\.net$/\n"   // 1
                               ".protection.outlook.com\n"        // 2
                               "outlook.com\n"                    // 3
                               "example.net\n"                    // 4
                               "/outlook/\n"                      // 5
                               "outlook.com\n");                  // 6: a repeat
  auto loaded = StaticWhitelist::load({{clients, false}}, {});
  REQUIRE(loaded.ok());
  const auto& w = *loaded.value().whitelist;
  CHECK(w.client_rule_count() == 6);
  const auto rule_for = [&](const std::string& name) {
    const auto m = w.match(request(name, "198.51.100.1", "x@y.test"));
    return m ? m->rule : std::string("none");
  };
  CHECK(rule_for("a.protection.outlook.com") == "whitelist_clients:2 .protection.outlook.com");
  CHECK(rule_for("protection.outlook.com") == "whitelist_clients:3 outlook.com");
  CHECK(rule_for("OUTLOOK.COM") == "whitelist_clients:3 outlook.com");
  CHECK(rule_for("mx1.example.net") == "whitelist_clients:1 /^mx[0-9]\\.example\\.net$/");
  CHECK(rule_for("mail.example.net") == "whitelist_clients:4 example.net");
  CHECK(rule_for("myoutlook.org") == "whitelist_clients:5 /outlook/");
  CHECK(rule_for("example.org") == "none");
  CHECK(rule_for("unknown") == "none");
  CHECK(rule_for("UNKNOWN") == "none");
}

TEST_CASE("network rules: the first containing network in file order is the one reported") {
  Files f;
  const auto clients = f.write("whitelist_clients",
                               "198.51.100.0/24\n"     // 1
                               "198.51.100.7\n"        // 2: inside 1
                               "10.1\n"                // 3: 10.1.0.0/16
                               "10.1.2.0/24\n"         // 4: inside 3
                               "2001:db8::/32\n"       // 5
                               "2001:db8:1::5\n"       // 6: inside 5
                               "192.0.2.9\n"           // 7
                               "198.51.100.0/24\n");   // 8: a repeat of 1
  auto loaded = StaticWhitelist::load({{clients, false}}, {});
  REQUIRE(loaded.ok());
  const auto& w = *loaded.value().whitelist;
  CHECK(w.client_rule_count() == 8);
  const auto rule_for = [&](const std::string& address) {
    const auto m = w.match(request("unknown", address, "x@y.test"));
    return m ? m->rule : std::string("none");
  };
  CHECK(rule_for("198.51.100.7") == "whitelist_clients:1 198.51.100.0/24");
  CHECK(rule_for("198.51.100.255") == "whitelist_clients:1 198.51.100.0/24");
  CHECK(rule_for("198.51.101.1") == "none");
  CHECK(rule_for("10.1.2.3") == "whitelist_clients:3 10.1");
  CHECK(rule_for("10.1.200.3") == "whitelist_clients:3 10.1");
  CHECK(rule_for("10.2.2.3") == "none");
  CHECK(rule_for("2001:DB8:1::5") == "whitelist_clients:5 2001:db8::/32");
  CHECK(rule_for("2001:db9::1") == "none");
  CHECK(rule_for("192.0.2.9") == "whitelist_clients:7 192.0.2.9");
  CHECK(rule_for("::ffff:192.0.2.9") == "whitelist_clients:7 192.0.2.9");  // parsed as IPv4
  CHECK(rule_for("192.0.2.10") == "none");
  CHECK(rule_for("not-an-address") == "none");
}

TEST_CASE("a line postgrey would skip is skipped with a warning naming file:line; the rest is used") {
  Files f;
  const auto clients =
      f.write("whitelist_clients", "example.com\n\nbad host name\n/(unclosed/\n" +
                                       std::string(whitelist::kMaxLineBytes + 1, 'x') + "\nlast.test\n");
  const auto recipients = f.write("whitelist_recipients", "a b@c\npostmaster@\n");
  auto loaded = StaticWhitelist::load({WhitelistFile{clients, false}},
                                      {WhitelistFile{recipients, false}});
  REQUIRE(loaded.ok());
  CHECK(loaded.value().skipped_lines == 4);
  const auto& warnings = loaded.value().warnings;
  REQUIRE(warnings.size() == 4);
  CHECK(warnings[0] == clients + ":3: doesn't look like a hostname: skipped");
  CHECK(warnings[1].rfind(clients + ":4: bad regex", 0) == 0);
  CHECK(warnings[2].rfind(clients + ":5: line longer than", 0) == 0);
  CHECK(warnings[3].rfind(recipients + ":1: ", 0) == 0);
  CHECK(loaded.value().whitelist->client_rule_count() == 2);
  CHECK(loaded.value().whitelist->recipient_rule_count() == 1);
}

TEST_CASE("missing files: .local silently, main file as a warning") {
  Files f;
  auto loaded = StaticWhitelist::load({{f.dir + "/whitelist_clients", false},
                                       {f.dir + "/whitelist_clients.local", true}},
                                      {{f.dir + "/whitelist_recipients.local", true}});
  REQUIRE(loaded.ok());
  REQUIRE(loaded.value().warnings.size() == 1);
  CHECK(loaded.value().warnings[0].find(f.dir + "/whitelist_clients") != std::string::npos);
  CHECK(loaded.value().whitelist->client_rule_count() == 0);
}

TEST_CASE("an unreadable path (a directory) fails the load, naming it") {
  Files f;
  auto loaded = StaticWhitelist::load({{f.dir, false}}, {});
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message().find(f.dir) != std::string::npos);
}

TEST_CASE("the shipped default lists load, and whitelist what they promise") {
  auto loaded = StaticWhitelist::load({{std::string(SOURCE_ROOT) + "/conf/whitelist_clients", false}},
                                      {{std::string(SOURCE_ROOT) + "/conf/whitelist_recipients", false}});
  REQUIRE(loaded.ok());
  CHECK(loaded.value().warnings.empty());
  const auto& w = *loaded.value().whitelist;
  CHECK(w.client_rule_count() > 50);
  CHECK(w.match(request("unknown", "1.2.3.4", "postmaster@example.org")));
  CHECK(w.match(request("unknown", "1.2.3.4", "abuse@example.org")));
  CHECK(w.match(request("mail-eopbgr80101.outbound.protection.outlook.com", "1.2.3.4", "x@y.test")));
  CHECK(w.match(request("unknown", "40.107.22.33", "x@y.test")));       // Microsoft 365 range
  CHECK(w.match(request("unknown", "209.85.128.45", "x@y.test")));      // Google range
  CHECK(w.match(request("unknown", "2a00:1450:4864:20::12f", "x@y.test")));  // Google IPv6
  CHECK_FALSE(w.match(request("unknown", "192.0.2.1", "x@y.test")));    // documentation range
}

}  // TEST_SUITE
