// ClientKind: what a client's verified name says about the host, for the
// choices that differ between mail servers and end-user machines (pool
// keying, client auto-whitelist key, adaptive delay).
#pragma once

#include <string_view>

namespace greylist {

enum class ClientKind {
  kUnknown,  // no forward-confirmed name ("unknown", empty, or not a host name)
  kDynamic,  // a name in the shapes ISPs give customer ranges: the address's
             // octets (decimal or hex), words such as dyn, dsl, cable, pool,
             // cpe, dhcp, res, cust, broadband, or three or more numeric labels
  kServer,   // any other name, and every name with a mail-server label
             // (mail, smtp, mx, mta, out, relay, ...), numbers or not
};

// Classifies the verified client name `name` of a client at `address` (its
// text as the MTA reported it; only IPv4 octets are looked for in names).
// `registered_domain` is the name's registered domain when known (from the
// Public Suffix List): its labels are not looked at, so "dsl-tools.com"
// does not make "mail.dsl-tools.com" dynamic. Without it, the last two
// labels are left out. Pure; untrusted input of any length (names longer
// than 253 bytes are kUnknown); never throws.
ClientKind classify_client(std::string_view name, std::string_view address,
                           std::string_view registered_domain = {});

// "unknown", "dynamic", "server" (log lines, greylistctl).
const char* to_string(ClientKind kind);

}  // namespace greylist
