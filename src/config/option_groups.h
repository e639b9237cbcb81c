// From parsed option values to DaemonOptions, one group of options at a
// time, each group validated as it is read.
#pragma once

#include <boost/program_options.hpp>

#include "config/daemon_options.h"
#include "greylist/status.h"

namespace greylist::config {

// Fills `out` from `vm` (parsed against describe_options(), defaults
// applied). The first invalid value found is the returned InvalidArgument,
// "option --NAME: what is wrong"; `out` is then partly filled and unusable.
Status fill_daemon_options(const boost::program_options::variables_map& vm, DaemonOptions& out);

}  // namespace greylist::config
