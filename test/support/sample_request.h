// A recipient request of a named client, the core tests' common example;
// each field can be replaced.
#pragma once

#include <string>

#include "greylist/request.h"

namespace greylist::testing {

inline Request sample_request(std::string client = "203.0.113.7",
                              std::string sender = "a@foo.test",
                              std::string recipient = "b@bar.test") {
  Request r;
  r.client_address = std::move(client);
  r.client_name = "mail.foo.test";
  r.sender = std::move(sender);
  r.recipient = std::move(recipient);
  return r;
}

}  // namespace greylist::testing
