// RegisteredDomains: the registered domain ("eTLD+1") of a host name, from
// the Public Suffix List, for --pool-by-domain.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "greylist/status.h"

namespace greylist {

class RegisteredDomains {
 public:
  virtual ~RegisteredDomains() = default;
  // "mail-x.outbound.protection.outlook.com" -> "outlook.com". nullopt for a
  // name that is itself a public suffix, has no dot, or is not a host name
  // (an address literal, "unknown"). Lower-case. Thread-safe.
  virtual std::optional<std::string> registered_domain(std::string_view host) const = 0;
};

// libpsl with the newest list on the system (Debian's publicsuffix package,
// /usr/share/publicsuffix), falling back to the list built into libpsl.
Result<std::unique_ptr<RegisteredDomains>> open_public_suffix_list();

}  // namespace greylist
