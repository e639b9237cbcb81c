// postgrey's command line (POSTGREY_OPTS and POSTGREY_TEXT of
// /etc/default/postgrey) translated into greylist-milter's settings, for
// `greylistctl migrate-postgrey`. postgrey 1.37's options and meanings:
// ../shared/postgrey-reference.md section 1.
//
// The words are read as postgrey's Getopt::Long reads them (posix_default,
// no_ignore_case): "--name=value", "--name value", one dash accepted too,
// no abbreviations, the first word that is not an option ends the options,
// a repeated option's last value wins (--whitelist-* add up). Nothing here
// touches a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace greylist {

// One line of greylist-milter.conf and what it came from.
struct MigratedSetting {
  std::string name;    // our option, as the config file spells it ("delay")
  std::string value;
  std::string source;  // postgrey's spelling ("--delay=60", "POSTGREY_TEXT")
};

struct PostgreyConfiguration {
  std::vector<MigratedSetting> settings;  // in the order of the reference table
  // "what: why" for each setting with no equivalent, each word postgrey
  // would refuse, and each postgrey quirk we do not copy.
  std::vector<std::string> not_carried;
  std::string dbdir = "/var/lib/postgrey";  // --dbdir: the database to import
  std::int64_t delay = 300;                 // postgrey's effective --delay
  bool privacy = false;                     // --privacy: its hashed keys cannot be imported
  // --whitelist-clients / --whitelist-recipients as given; empty: postgrey
  // read its default pair (/etc/postgrey/whitelist_X and .local).
  std::vector<std::string> whitelist_clients;
  std::vector<std::string> whitelist_recipients;
};

// `words`: POSTGREY_OPTS split into words. `text`: POSTGREY_TEXT when set
// and not empty (Debian's systemd unit and init script pass it as the last
// --greylist-text, so it wins over one in POSTGREY_OPTS).
PostgreyConfiguration translate_postgrey_options(const std::vector<std::string>& words,
                                                 const std::optional<std::string>& text);

}  // namespace greylist
