// SmtpClient: a minimal SMTP client for end-to-end tests (RFC 5321 replies,
// multi-line aware; DATA with dot-stuffing). Every read is bounded.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace greylist::testing {

class LineClient;

struct SmtpReply {
  int code = 0;           // 0 when no (complete) reply arrived
  std::string text;       // every line, "\n"-joined, codes included
  std::string last_line;  // e.g. "250 2.0.0 Ok: queued as 4XyZ"

  bool positive() const { return code >= 200 && code < 400; }
};

class SmtpClient {
 public:
  static constexpr std::chrono::seconds kTimeout{30};

  // Connects to 127.0.0.1:port and reads the greeting (see greeting()).
  explicit SmtpClient(int port);
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  bool connected() const;
  const SmtpReply& greeting() const { return greeting_; }

  // Sends `line` + CRLF and reads the reply.
  SmtpReply command(const std::string& line);
  // DATA, then `message` (lines separated by "\r\n", without the final
  // dot) dot-stuffed, then ".". Returns the reply to the final dot, or the
  // DATA reply when that was not 354.
  SmtpReply data(const std::string& message);
  // The queue id from "250 2.0.0 Ok: queued as ID", "" when absent.
  static std::string queue_id(const SmtpReply& reply);

 private:
  SmtpReply read_reply();

  std::unique_ptr<LineClient> line_;
  SmtpReply greeting_;
};

}  // namespace greylist::testing
