// The table of the daemon's options: each one's name, type, default and
// help text, grouped as --help shows them. The one place an option is
// declared (the man page and conf/greylist-milter.conf say the same);
// option_groups.cc turns the parsed values into DaemonOptions.
#pragma once

#include <boost/program_options.hpp>

namespace greylist::config {

// Every option the daemon takes, also those only a command line gives
// (--help, --version, --config).
boost::program_options::options_description describe_options();

}  // namespace greylist::config
