#include "store/redis_reply.h"

namespace greylist::redis {

std::string_view reply_text(const redisReply& reply) {
  if (reply.str == nullptr) return {};
  return {reply.str, reply.len};
}

bool is_status(const redisReply& reply, std::string_view text) {
  return reply.type == REDIS_REPLY_STATUS && reply_text(reply) == text;
}

std::string printable(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (const char c : text.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (text.size() > kMax) out += "...";
  return out;
}

Status error_reply_status(const redisReply& reply) {
  const std::string_view text = reply_text(reply);
  const std::string message = "server error: " + printable(text);
  for (const char* prefix : {"READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "BUSY", "CLUSTERDOWN"}) {
    if (text.starts_with(prefix)) return Status::Unavailable(message);
  }
  for (const char* prefix : {"NOAUTH", "WRONGPASS", "NOPERM", "ERR invalid password", "ERR AUTH",
                             "ERR DB index", "ERR invalid DB index", "ERR Client sent AUTH"}) {
    if (text.starts_with(prefix)) return Status::InvalidArgument(message);
  }
  return Status::IoError(message);
}

}  // namespace greylist::redis
