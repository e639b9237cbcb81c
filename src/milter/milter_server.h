// MilterServer: the libmilter front end.
//
// Gates each recipient at RCPT time through the shared Greylister (tempfail
// with smfi_setreply on greylist), and inserts the X-Greylist header at
// end-of-message when a recipient of the message passed after a delay.
// libmilter allows one filter per process: at most one MilterServer exists.
//
// Lifecycle: open() registers the filter and creates the listening socket
// (before privileges are dropped); run() serves until stop() (blocks in
// smfi_main, on its own thread); stop() is thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "greylist/front_end_settings.h"
#include "greylist/greylister.h"
#include "greylist/status.h"
#include "util/socket_spec.h"

namespace greylist {

struct MilterSettings {
  SocketSpec socket;                    // --milter
  unsigned socket_mode = 0666;          // --socketmode, for a unix socket
  FrontEndSettings common;
  std::string reply_code = "450";       // --milter-reply-code
  std::string enhanced_code = "4.2.0";  // --milter-enhanced-code
  bool header_always = false;           // --x-greylist-header-always
  // Clients never greylisted (--skip-networks), CIDR text; loopback by default.
  std::vector<std::string> skip_networks = {"127.0.0.0/8", "::1/128"};
  std::chrono::seconds timeout{30};     // libmilter I/O timeout with the MTA
};

class MilterServer {
 public:
  static Result<std::unique_ptr<MilterServer>> open(MilterSettings settings,
                                                    const Greylister& greylister,
                                                    const Clock& clock);
  virtual ~MilterServer() = default;
  virtual void run() = 0;
  virtual void stop() = 0;
};

}  // namespace greylist
