#include "support/smtp_client.h"

#include <cctype>

#include "support/line_client.h"

namespace greylist::testing {
namespace {

constexpr int kMaxReplyLines = 100;

}  // namespace

SmtpClient::SmtpClient(int port)
    : line_(std::make_unique<LineClient>(port, std::chrono::seconds(10))) {
  if (line_->ok()) greeting_ = read_reply();
}

SmtpClient::~SmtpClient() = default;

bool SmtpClient::connected() const { return line_->ok() && greeting_.code != 0; }

SmtpReply SmtpClient::read_reply() {
  SmtpReply reply;
  for (int i = 0; i < kMaxReplyLines; ++i) {
    auto line = line_->read_until("\r\n", kTimeout);
    if (!line) return SmtpReply{};
    std::string text = line->substr(0, line->size() - 2);
    if (!reply.text.empty()) reply.text += '\n';
    reply.text += text;
    if (text.size() < 3 || !std::isdigit(static_cast<unsigned char>(text[0])) ||
        !std::isdigit(static_cast<unsigned char>(text[1])) ||
        !std::isdigit(static_cast<unsigned char>(text[2]))) {
      return SmtpReply{};  // not SMTP
    }
    if (text.size() == 3 || text[3] == ' ') {
      reply.code = std::stoi(text.substr(0, 3));
      reply.last_line = text;
      return reply;
    }
  }
  return SmtpReply{};
}

SmtpReply SmtpClient::command(const std::string& line) {
  if (!line_->send(line + "\r\n")) return SmtpReply{};
  return read_reply();
}

SmtpReply SmtpClient::data(const std::string& message) {
  SmtpReply go = command("DATA");
  if (go.code != 354) return go;
  std::string wire;
  std::size_t start = 0;
  while (start <= message.size()) {
    auto end = message.find("\r\n", start);
    if (end == std::string::npos) end = message.size();
    const std::string line = message.substr(start, end - start);
    if (!line.empty() && line[0] == '.') wire += '.';
    wire += line;
    wire += "\r\n";
    start = end + 2;
  }
  wire += ".\r\n";
  if (!line_->send(wire)) return SmtpReply{};
  return read_reply();
}

std::string SmtpClient::queue_id(const SmtpReply& reply) {
  const std::string marker = "queued as ";
  const auto at = reply.last_line.find(marker);
  if (at == std::string::npos) return "";
  std::string id = reply.last_line.substr(at + marker.size());
  while (!id.empty() && !std::isalnum(static_cast<unsigned char>(id.back()))) id.pop_back();
  return id;
}

}  // namespace greylist::testing
