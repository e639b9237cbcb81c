// The in-process MilterServer shared by milter_hostile_test.cc and
// log_injection_test.cc (libmilter serves once per process), and the
// daemon's log as it writes it (stderr, redirected to a file for the
// process's life).
#pragma once

#include <cstdint>
#include <string>

#include "support/milter_client.h"

namespace greylist::hostile {

// The live server's port; starts it on first use.
int milter_port();

// Everything logged since `offset` (a value returned by log_offset()).
std::size_t log_offset();
std::string log_since(std::size_t offset);

// A negotiated connection (as Postfix opens one).
testing::MilterClient open_milter();

// CONNECT (IPv4 `address`, name `name`), HELO, MAIL FROM `sender`, RCPT TO
// `recipient`: true when the milter greylisted the recipient, as it must for
// a new triplet. The proof that the server still serves.
bool greylists(const std::string& address, const std::string& sender,
               const std::string& recipient, const std::string& name = "mail.example.org",
               const std::string& helo = "mail.example.org");

}  // namespace greylist::hostile
