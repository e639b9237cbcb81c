// Redis replies as hiredis returns them: ownership, text, and what an error
// reply means.
#pragma once

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/status.h"

namespace greylist::redis {

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// One command's arguments, each passed binary-safe (never formatted into
// command text).
using Args = std::vector<std::string_view>;

// The reply's string (status, error, bulk string); empty when it has none.
std::string_view reply_text(const redisReply& reply);

// Whether the reply is the status `text` (OK, QUEUED, PONG).
bool is_status(const redisReply& reply, std::string_view text);

// `text` made printable for a log line: other bytes become '?', at most 200
// characters, then "...".
std::string printable(std::string_view text);

// An error reply as a Status "server error: TEXT": kUnavailable when it
// means this server cannot serve now (READONLY, LOADING, MASTERDOWN,
// TRYAGAIN, BUSY, CLUSTERDOWN), kInvalidArgument for a refused login or
// database, kIoError for anything else.
Status error_reply_status(const redisReply& reply);

}  // namespace greylist::redis
