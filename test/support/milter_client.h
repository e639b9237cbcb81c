// MilterClient: the MTA side of the Sendmail milter protocol (version 6),
// just enough to drive a milter in tests without Postfix.
//
// Wire format: every packet is a 4-byte big-endian length (of what follows),
// one command byte, then the command's data. Every read is bounded by a
// timeout; a packet larger than kMaxReplyBytes counts as a broken peer.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace greylist::testing {

struct MilterReply {
  char command = 0;  // SMFIR_* (or SMFIC_OPTNEG for the negotiation answer)
  std::string data;
};

// What the milter answered to SMFIC_OPTNEG.
struct MilterNegotiation {
  std::uint32_t version = 0;
  std::uint32_t actions = 0;   // SMFIF_*
  std::uint32_t protocol = 0;  // SMFIP_*
  std::map<std::uint32_t, std::string> macro_lists;  // SMFIM_* -> "i {auth_authen}"
};

// An SMFIR_INSHEADER / SMFIR_ADDHEADER request from an end-of-message reply.
struct MilterHeaderChange {
  char command = 0;
  std::uint32_t index = 0;  // INSHEADER only
  std::string name;
  std::string value;
};

class MilterClient {
 public:
  static constexpr std::size_t kMaxReplyBytes = 1 << 20;
  // The SMFIP_NR_* bits: steps a milter may ask to answer with no reply.
  static constexpr std::uint32_t kNoReplyBits = 0x000ff080;
  // The command of what connect(), helo(), mail() and rcpt() return for a
  // step negotiated without a reply (nothing was read).
  static constexpr char kNoReply = '\0';
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  // Connects to host:port over TCP (bounded by `timeout`); nullopt on failure.
  static std::optional<MilterClient> connect_tcp(const std::string& host, std::uint16_t port,
                                                 std::chrono::milliseconds timeout = kDefaultTimeout);
  MilterClient(MilterClient&& other) noexcept;
  MilterClient& operator=(MilterClient&& other) noexcept;
  MilterClient(const MilterClient&) = delete;
  MilterClient& operator=(const MilterClient&) = delete;
  ~MilterClient();

  // One packet; false when the write failed.
  bool send(char command, std::string_view data = {});
  // Bytes as they are (hostile-input tests).
  bool send_raw(std::string_view bytes);
  // The next packet; nullopt on timeout, EOF or a malformed/oversize packet.
  std::optional<MilterReply> read(std::chrono::milliseconds timeout = kDefaultTimeout);
  // True when the peer closed the connection within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout = kDefaultTimeout);

  // SMFIC_OPTNEG with what the MTA offers (defaults: all of protocol v6, as
  // Postfix offers it, "no reply" steps included). Remembers which steps the
  // milter chose to answer with no reply.
  std::optional<MilterNegotiation> negotiate(std::uint32_t version = 6,
                                             std::uint32_t actions = 0x1ff,
                                             std::uint32_t protocol = 0x1fffff);
  // SMFIC_MACRO for the command `for_command` (no reply).
  bool macros(char for_command, const std::vector<std::pair<std::string, std::string>>& values);
  // SMFIC_CONNECT. family: '4', '6', 'L' (unix) or 'U' (unknown, no address).
  // These four read the reply, except for a step negotiated without one:
  // then a MilterReply with command kNoReply.
  std::optional<MilterReply> connect(std::string_view hostname, char family,
                                     std::uint16_t port = 0, std::string_view address = {});
  std::optional<MilterReply> helo(std::string_view name);
  std::optional<MilterReply> mail(const std::vector<std::string>& args);
  std::optional<MilterReply> rcpt(const std::vector<std::string>& args);
  // SMFIC_BODYEOB: every reply up to the final one (continue, accept,
  // tempfail, ...); modification requests come first. Empty on failure.
  std::vector<MilterReply> end_of_message(std::string_view last_body_chunk = {});
  bool abort();    // SMFIC_ABORT (no reply)
  bool quit();     // SMFIC_QUIT (no reply; the milter closes)
  bool quit_nc();  // SMFIC_QUIT_NC: a new connection follows on this socket

  // Helpers for replies.
  // "continue": the reply 'c', or no reply for a step negotiated without one.
  static bool continues(const MilterReply& reply) {
    return reply.command == 'c' || reply.command == kNoReply;
  }
  static std::optional<MilterHeaderChange> header_change(const MilterReply& reply);
  // For SMFIR_REPLYCODE: the text ("450 4.2.0 Greylisted ...") without the NUL.
  static std::string reply_text(const MilterReply& reply);

 private:
  explicit MilterClient(int fd) : fd_(fd) {}
  bool read_exactly(char* buffer, std::size_t size, std::chrono::steady_clock::time_point deadline);
  // read(), or kNoReply without reading when `no_reply_bit` was negotiated.
  std::optional<MilterReply> reply_unless(std::uint32_t no_reply_bit);

  int fd_ = -1;
  std::uint32_t no_reply_steps_ = 0;  // SMFIP_NR_* bits of the negotiation
};

}  // namespace greylist::testing
