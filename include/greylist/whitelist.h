// Whitelist: static exemptions from greylisting, consulted by the core
// before the database.
#pragma once

#include <optional>
#include <string>

#include "greylist/request.h"

namespace greylist {

struct WhitelistMatch {
  // Which list matched: the decision's reason is "client whitelist" or
  // "recipient whitelist" (Decision::Reason::kClientWhitelist / ...).
  enum class List { kClients, kRecipients };
  List list = List::kClients;
  // Where the rule came from, e.g. "whitelist_clients:42 .outlook.com";
  // empty when not known.
  std::string rule;
};

class Whitelist {
 public:
  virtual ~Whitelist() = default;
  // The first rule matching the request, in postgrey's order: client name,
  // client address, recipient. Thread-safe.
  virtual std::optional<WhitelistMatch> match(const Request& request) const = 0;
};

}  // namespace greylist
