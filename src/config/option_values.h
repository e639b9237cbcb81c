// The value parsers behind the options: each checks one option's text and
// returns its value, or InvalidArgument("option --NAME: what is wrong"),
// the one-line message the daemon and greylistctl print.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist::config {

inline constexpr std::int64_t kDay = 86400;

// InvalidArgument("option --OPTION: WHAT").
Status bad(const std::string& option, const std::string& what);

// A whole number in [min, max], nothing else.
Result<std::int64_t> parse_number(const std::string& option, std::string_view text,
                                  std::int64_t min, std::int64_t max);

// A size in bytes: a whole number, or one followed by K, M or G (powers of
// 1024), in [min, max] bytes (--cache-size).
Result<std::uint64_t> parse_byte_size(const std::string& option, std::string_view text,
                                      std::uint64_t min, std::uint64_t max);

// postgrey's --retry-window: N days, or N followed by 'h' for hours; in seconds.
Result<std::int64_t> parse_retry_window(std::string_view text);

// A syslog facility by name (mail, daemon, user, local0..local7).
Result<int> parse_facility(const std::string& name);

// An octal file mode up to 0777 (--socketmode).
Result<unsigned> parse_socket_mode(const std::string& text);

// Addresses or CIDR networks, comma-separated in each item (--skip-networks);
// blanks around an item and empty items are ignored.
Result<std::vector<std::string>> parse_network_list(const std::vector<std::string>& items);

}  // namespace greylist::config
