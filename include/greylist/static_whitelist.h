// StaticWhitelist: the admin's whitelist files, in postgrey's syntax.
//
// Client files, one rule per line ('#' starts a comment, blank lines skip):
//   /REGEX/          Perl regex, case-insensitive, on the client name
//   192.0.2.1        an address;  192.0.2.0/24, 2001:db8::/32  a network
//   192.0.2          an IPv4 prefix of three octets (/24); 10.1 is /16
//                    (postgrey reads two octets as /24 by mistake)
//   2001:db8::1      an IPv6 address
//   example.com      that name and every name under it
//   .example.com     only the names under it
// Name rules use the client name Postfix verified; "unknown" (no verified
// reverse DNS) never matches a name rule.
//
// Recipient files:
//   /REGEX/          on the full recipient, case-insensitive
//   user@domain      that address, also with +extension
//   user@            that local part at any domain, also with +extension
//   domain           every address at the domain or under it
//
// Immutable once loaded, so one instance is shared by every thread; a
// reload builds a new one and swaps it in (Greylister::set_whitelist).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "greylist/status.h"
#include "greylist/whitelist.h"

namespace greylist {

struct WhitelistFile {
  std::string path;
  // A missing optional file (the ".local" ones) is silently skipped; a
  // missing required file is a warning.
  bool optional = false;
};

class StaticWhitelist final : public Whitelist {
 public:
  struct Loaded {
    std::shared_ptr<const StaticWhitelist> whitelist;
    // For the log: missing files, and "FILE:LINE: reason: skipped" for each
    // line skipped.
    std::vector<std::string> warnings;
    std::size_t skipped_lines = 0;
  };

  // Reads every file. A line that does not parse (or is too long) is
  // skipped with a warning naming FILE:LINE, as postgrey skips it, and the
  // rest of the file is used. An unreadable file that exists fails the
  // whole load, naming the file and the reason (the caller keeps the lists
  // it had).
  static Result<Loaded> load(const std::vector<WhitelistFile>& client_files,
                             const std::vector<WhitelistFile>& recipient_files);

  // postgrey's order: client name, client address, recipient.
  std::optional<WhitelistMatch> match(const Request& request) const override;

  std::size_t client_rule_count() const;
  std::size_t recipient_rule_count() const;

  ~StaticWhitelist() override;
  StaticWhitelist();  // empty: matches nothing

 private:
  struct Rules;
  std::unique_ptr<Rules> rules_;
};

}  // namespace greylist
