// Request: one greylisting question, built by a front end from untrusted
// input (policy attributes or milter callbacks).
#pragma once

#include <string>

namespace greylist {

struct Request {
  // Textual client IP address as the MTA reported it ("192.0.2.1",
  // "2001:db8::1", possibly "::ffff:192.0.2.1"). Required.
  std::string client_address;
  // Verified reverse-DNS name, or "unknown" when there is none.
  std::string client_name = "unknown";
  std::string helo_name;
  // Envelope sender without angle brackets; empty for the null sender <>.
  std::string sender;
  // One envelope recipient without angle brackets. Required.
  std::string recipient;
  // SMTP AUTH user name when the client authenticated; empty otherwise.
  std::string sasl_username;
  // The envelope sender's domain (lower case) when the front end checked
  // SPF for it (--pool-by-spf) and the result was pass; empty otherwise.
  std::string spf_pass_domain;
  // Postfix queue id when known (log prefix only).
  std::string queue_id;
  // Which front end asked ("policy", "milter"; metrics label only).
  const char* front_end = "other";
};

}  // namespace greylist
