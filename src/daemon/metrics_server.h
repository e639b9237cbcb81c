// MetricsServer: serves Metrics over HTTP for Prometheus (--metrics).
//
// GET /metrics answers the text exposition format; anything else 404 (or
// 405 for another method). One request per connection read at a time,
// headers bounded to 8 KiB, no body accepted, every connection closed after
// 10 s. Runs its own thread; Boost.Beast does the HTTP.
#pragma once

#include <memory>

#include "daemon/metrics.h"
#include "greylist/status.h"
#include "util/socket_spec.h"

namespace greylist {

class MetricsServer {
 public:
  // Binds `socket` (inet only). `metrics` must outlive the server.
  static Result<std::unique_ptr<MetricsServer>> start(const SocketSpec& socket,
                                                      const Metrics& metrics);
  virtual ~MetricsServer() = default;  // stops and joins the thread
};

}  // namespace greylist
