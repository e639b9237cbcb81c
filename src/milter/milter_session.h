// MilterSession: the milter front end's decisions for one SMTP connection,
// without libmilter.
//
// MilterServer turns each libmilter callback into one call here, so the
// whole behaviour (skip rules, per-recipient greylisting, reply text, the
// X-Greylist header, per-message reset) is unit-tested without sockets.
//
// Per-connection state: client address and name, HELO, and whether the
// connection is exempt (skip networks, no client address). Per-message
// state (sender, SMTP AUTH, the SPF result, the longest delay of an
// accepted recipient) is reset by mail_from(), abort() and
// end_of_message(), so RSET, aborted transactions and several messages per
// connection start clean. With --pool-by-spf the SPF check (which depends
// only on the client address, the sender and the HELO name) runs once per
// message, at the first recipient the core decides; the others reuse its
// result. An XCLIENT/new-connection event is a new MilterSession
// (MilterServer deletes the old one at close and creates a new one at
// connect).
//
// Every string argument is untrusted SMTP input; nothing here throws on bad
// input (it may throw std::bad_alloc, which MilterServer catches). Not
// thread-safe: libmilter runs the callbacks of one connection one after the
// other, never concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/clock.h"
#include "greylist/decision.h"
#include "greylist/greylister.h"
#include "greylist/ip_address.h"
#include "greylist/request.h"
#include "milter/milter_server.h"

namespace greylist {

// Shared, read-only state of all sessions; owned by MilterServer and built
// once by make_milter_context() (which validates the settings).
struct MilterContext {
  MilterSettings settings;
  std::vector<IpNetwork> skip_networks;
  const Greylister* greylister = nullptr;
  const Clock* clock = nullptr;
  std::string header_name;  // "X-Greylist", from settings.common.header_template
};

// InvalidArgument naming the setting when a skip network, the reply code
// (must be 4xx) or the enhanced code (must be 4.x.y) is malformed.
Result<MilterContext> make_milter_context(MilterSettings settings, const Greylister& greylister,
                                          const Clock& clock);

// What to answer to one RCPT: continue, tempfail (4xx) or, for a
// `blacklist` rule only, reject (5xx).
struct RcptReply {
  bool tempfail = false;
  bool reject = false;
  // With tempfail or reject: smfi_setreply's arguments. `text` is one line,
  // escaped for libmilter/Postfix ('%' doubled) and short enough for
  // smfi_setreply.
  std::string code;
  std::string enhanced_code;
  std::string text;
};

// A header to insert at end of message (smfi_insheader index 0).
struct MilterHeader {
  std::string name;
  std::string value;
};

// The header written with --x-greylist-header-always for a message no
// recipient of which was delayed:
//   "X-Greylist: <why>, not delayed by greylist-milter-VERSION at HOST; DATE"
// with <why> one of the texts below (the first accepted recipient's).
inline constexpr std::string_view kNotDelayedAuthenticated = "Sender succeeded SMTP AUTH";
inline constexpr std::string_view kNotDelayedSkipNetwork = "Sender IP in skip networks";
inline constexpr std::string_view kNotDelayedLocal = "Local submission";
inline constexpr std::string_view kNotDelayedClientWhitelist = "Sender IP whitelisted";
inline constexpr std::string_view kNotDelayedRecipientWhitelist = "Recipient whitelisted";
inline constexpr std::string_view kNotDelayedPassedBefore = "Passed greylisting before";
inline constexpr std::string_view kNotDelayedRuleWhitelist = "Whitelisted by a rule";
inline constexpr std::string_view kNotDelayedError = "Greylisting unavailable";

// Longest envelope string kept (sender, recipient, HELO, client name); the
// MTA bounds them already, this bounds the store key and the logs for a
// hostile or broken MTA.
inline constexpr std::size_t kMaxMilterField = 1024;

// Longest greylist reply text before escaping (libmilter refuses > 980).
inline constexpr std::size_t kMaxReplyText = 480;

// '%' doubled (Postfix and sendmail read milter reply text as a format and
// turn "%%" into "%"), CR/LF and other controls replaced, cut to
// kMaxReplyText input bytes.
std::string escape_milter_reply(std::string_view text);

// The answer to a RCPT that could not be decided (store error, internal
// error): continue with --on-error accept, "451 4.3.0 Greylisting
// temporarily unavailable, please try again later" with tempfail.
RcptReply rcpt_reply_on_error(OnError on_error);

class MilterSession {
 public:
  // `context` must outlive the session.
  explicit MilterSession(const MilterContext& context);
  // The session keeps `context` (not null) alive.
  explicit MilterSession(std::shared_ptr<const MilterContext> context);

  // xxfi_connect. `hostname` is the MTA's name for the client; a bracketed
  // address ("[192.0.2.1]", Postfix's form when the name is unknown) or an
  // empty name becomes "unknown". `address` is nullopt when the MTA gave
  // none (local submission, unix socket): such a connection is not greylisted.
  void connect(std::string_view hostname, std::optional<IpAddress> address);
  void helo(std::string_view helo_name);
  // xxfi_envfrom: starts a new message. `sender` as sent ("<a@b>" or "a@b");
  // `auth_authen` is the {auth_authen} macro (empty when not authenticated),
  // the request's sasl_username: the core's SMTP AUTH step decides on it.
  void mail_from(std::string_view sender, std::string_view auth_authen);
  // xxfi_envrcpt: decides this recipient (logs one decision line). When the
  // rules consult DNS lists, waits for the answers up to --dns-timeout
  // (settings.common.dns); an unanswered list counts as not listed. With
  // --pool-by-spf, the message's first call waits for its SPF result too
  // (at most settings.common.spf.wait); later calls reuse it. A request the
  // core's SMTP AUTH step passes (RulePlan::smtp_auth_passes) is answered
  // at once: no SPF check, no DNS, no store access.
  RcptReply rcpt_to(std::string_view recipient);
  // xxfi_eom: the header to insert, if any; ends the message.
  std::optional<MilterHeader> end_of_message();
  // xxfi_abort (RSET, aborted transaction): forgets the message.
  void abort();

  // The Postfix queue id ({i} macro) when the MTA sent it; empty otherwise.
  void set_queue_id(std::string_view queue_id);

  // For logs and tests.
  const std::string& client_address() const { return request_.client_address; }
  const std::string& client_name() const { return request_.client_name; }
  // Why this connection is not greylisted ("" when it is): the reason text
  // of its log lines.
  std::string skip_reason() const;

 private:
  void reset_message();
  // --pool-by-spf: sets request_.spf_pass_domain, checking SPF (waiting at
  // most --dns-timeout) only the first time in a message.
  void check_spf_once();
  // The core's decision on request_ with the DNS lists its rules need and
  // (unless the plan says SMTP AUTH passes it) the message's SPF result.
  Decision decide();
  RcptReply greylist_reply(const Decision& decision) const;
  void note_accepted(std::string_view not_delayed_why, std::optional<std::int64_t> delayed);

  std::shared_ptr<const MilterContext> held_context_;  // first: context_ may refer to it
  const MilterContext& context_;
  Request request_;               // client, HELO, sender, queue id; recipient per call
  // Connection-level exemption (skip networks, no client address), the
  // milter's own (the policy front end is asked only where Postfix's
  // restrictions put it): the decision logged for each of its recipients.
  std::optional<Decision> skip_;
  // Per message.
  bool spf_checked_ = false;               // request_.spf_pass_domain holds the result
  std::optional<std::int64_t> max_delay_;  // longest delay among accepted recipients
  std::string not_delayed_why_;            // first accepted recipient's reason
};

}  // namespace greylist
