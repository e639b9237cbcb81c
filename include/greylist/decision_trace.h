// DecisionTrace: told what each step of Greylister's decision found, in the
// order the steps run (greylistctl whitelist-check narrates it). Every
// argument is only valid during the call. A step not reached (an earlier one
// decided) is not reported.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "greylist/record_codec.h"
#include "greylist/request.h"
#include "greylist/triplet_state.h"
#include "greylist/whitelist.h"

namespace greylist {

class DecisionTrace {
 public:
  virtual ~DecisionTrace() = default;
  // `loaded`: whether a static whitelist is set; `match`: its match.
  virtual void static_whitelist(bool loaded, const std::optional<WhitelistMatch>& match) = 0;
  // `threshold` 0: the client auto-whitelist is off (nothing was read).
  virtual void client_awl(std::uint32_t threshold, const std::optional<ClientRecord>& record) = 0;
  // `threshold` 0: off; `has_domain` false: the sender has no domain
  // (nothing was read in either case).
  virtual void domain_awl(std::uint32_t threshold, bool has_domain,
                          const std::optional<DomainRecord>& record) = 0;
  // `client`: the key's client part (network or pool); the final change.
  virtual void triplet(std::string_view client, const StoredTriplet& stored,
                       const TripletChange& change) = 0;
};

}  // namespace greylist
