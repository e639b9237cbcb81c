#include "e2e/e2e_session.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace greylist::testing::e2e {
namespace {

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

RunningParts g_running[kRunningSlots] = {};

extern "C" void stop_everything_and_exit(int signal_number) {
  for (RunningParts& parts : g_running) {
    if (parts.daemon_pid > 0) kill(parts.daemon_pid, SIGKILL);
    if (parts.redis_pid > 0) kill(parts.redis_pid, SIGKILL);
    if (parts.postfix_etc[0] != '\0') {
      const pid_t child = fork();
      if (child == 0) {
        execl("/usr/sbin/postfix", "postfix", "-c", parts.postfix_etc, "abort",
              static_cast<char*>(nullptr));
        _exit(127);
      }
      if (child > 0) waitpid(child, nullptr, 0);
    }
  }
  _exit(128 + signal_number);
}

}  // namespace

// Lines starting with dots, an empty line, tabs, trailing spaces.
const std::string kBody =
    "Hello from the greylist-milter end-to-end test.\r\n"
    ".a leading dot (dot-stuffed on the wire)\r\n"
    "..two leading dots\r\n"
    "\r\n"
    "  indented\twith a tab\r\n"
    "trailing spaces   \r\n"
    "last line";

std::string body_on_disk() {
  std::string out;
  for (std::size_t i = 0; i < kBody.size(); ++i) {
    if (kBody.compare(i, 2, "\r\n") == 0) {
      out += '\n';
      ++i;
    } else {
      out += kBody[i];
    }
  }
  return out + "\n";
}

std::string client_name(std::string address) {
  for (char& c : address) {
    if (c == '.' || c == ':') c = '-';
  }
  return "mx.c-" + address + ".example";
}

Attempt send_mail_as(int port, const std::string& client_address, const std::string& name,
                     const std::string& sender, const std::vector<std::string>& mailboxes,
                     bool authenticate) {
  SmtpClient smtp(port);
  REQUIRE(smtp.connected());
  REQUIRE(smtp.command("EHLO client.e2e.test").code == 250);
  if (!client_address.empty()) {
    REQUIRE(smtp.command("XCLIENT ADDR=" + client_address + " NAME=" + name).code == 220);
    REQUIRE(smtp.command("EHLO " + (name == kNoName ? "client.e2e.test" : name)).code == 250);
  }
  if (authenticate) {
    REQUIRE(smtp.command("AUTH PLAIN " + base64(std::string("\0alice\0secret", 13))).code == 235);
  }
  Attempt attempt;
  attempt.mail = smtp.command("MAIL FROM:<" + sender + ">");
  if (attempt.mail.code == 250) {
    bool accepted = false;
    for (const auto& box : mailboxes) {
      attempt.rcpt.push_back(smtp.command("RCPT TO:<" + box + "@dest.test>"));
      accepted = accepted || attempt.rcpt.back().code == 250;
    }
    if (accepted) {
      attempt.data = smtp.data("From: <" + sender + ">\r\nTo: <" + mailboxes.front() +
                               "@dest.test>\r\nSubject: greylist-milter e2e\r\n\r\n" + kBody);
    }
  }
  smtp.command("QUIT");
  return attempt;
}

bool greylisted_by_milter(const SmtpReply& reply) {
  return reply.last_line ==
         "450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/help/dest.test.html";
}

bool greylisted_by_policy(const SmtpReply& reply) {
  return reply.code == 450 &&
         reply.last_line.find("Greylisted, see http://postgrey.schweikert.ch/help/dest.test.html") !=
             std::string::npos;
}

namespace {

DeliveredMessage read_delivered(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  DeliveredMessage message;
  const auto split = text.find("\n\n");
  const std::string headers = text.substr(0, split);
  message.body = split == std::string::npos ? "" : text.substr(split + 2);
  std::istringstream lines(headers);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("X-Greylist:", 0) == 0) message.greylist_headers.push_back(line);
  }
  return message;
}

}  // namespace

DeliveredMessage delivered_message(const PostfixInstance& postfix, const std::string& mailbox,
                                   std::size_t before) {
  const std::string path = postfix.wait_for_delivery(mailbox, before);
  REQUIRE_MESSAGE(!path.empty(), "nothing delivered to " << mailbox << "\n" << postfix.maillog());
  DeliveredMessage message = read_delivered(path);
  CHECK(message.body == body_on_disk());
  return message;
}

long delayed_seconds(const std::string& header, const std::string& hostname) {
  const std::string prefix = "X-Greylist: delayed ";
  const std::string by =
      std::string(" seconds by greylist-milter-") + GREYLIST_VERSION + " at " + hostname + "; ";
  if (header.rfind(prefix, 0) != 0) return -1;
  const auto end = header.find(by, prefix.size());
  if (end == std::string::npos) return -1;
  return std::strtol(header.substr(prefix.size(), end - prefix.size()).c_str(), nullptr, 10);
}

bool greylisted(PostfixInstance::Service service, const SmtpReply& reply) {
  const bool policy = service == PostfixInstance::Service::kPolicy ||
                      service == PostfixInstance::Service::kPolicyAuth;
  return policy ? greylisted_by_policy(reply) : greylisted_by_milter(reply);
}

RunningParts& running_parts(int slot) { return g_running[slot]; }

std::unique_ptr<PostfixInstance> start_postfix_for(const DaemonProcess& daemon,
                                                   const std::vector<std::string>& mailboxes,
                                                   RunningParts& parts) {
  PostfixInstance::Options options;
  options.root = daemon.dir + "/postfix";
  std::filesystem::create_directories(options.root);
  options.mailboxes = mailboxes;
  options.milter_port = daemon.milter_port;
  options.policy_port = daemon.policy_port;
  const std::string etc = options.root + "/etc";
  std::strncpy(parts.postfix_etc, etc.c_str(), sizeof parts.postfix_etc - 1);
  stop_running_parts_on_signals();
  return std::make_unique<PostfixInstance>(options);
}

void stop_running_parts_on_signals() {
  signal(SIGINT, stop_everything_and_exit);
  signal(SIGTERM, stop_everything_and_exit);
}

}  // namespace greylist::testing::e2e
