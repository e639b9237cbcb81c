// The core tests' common examples: a recipient request of a named client
// (each field can be replaced), and plain settings.
#pragma once

#include <string>

#include "greylist/greylist_config.h"
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

// One delay for every client (no --dynamic-delay) and no auto-whitelists;
// a test turns on what it is about.
inline GreylistConfig plain_config() {
  GreylistConfig config;
  config.dynamic_delay = 0;
  config.auto_whitelist_clients = 0;
  config.auto_whitelist_domains = 0;
  return config;
}

}  // namespace greylist::testing
