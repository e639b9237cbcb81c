// RuleSet: the administrator's access rules (--rules FILE), a documented
// subset of milter-greylist's greylist.conf access lists plus greytraps.
// The syntax, its limits and the order of evaluation are in
// greylist-milter.rules(5); in short, one statement per line:
//
//   list "NAME" addr|domain|from|rcpt|helo|auth { VALUE ... }
//   dnsrbl "NAME" ZONE ADDRESS[/MASK]
//   racl ["ID"] whitelist|greylist|blacklist|continue|greytrap
//        CLAUSE... | default   [OPTION...]
//   CLAUSE = [not] addr|domain|from|rcpt|helo|auth VALUE
//          | [not] [KIND] list "NAME" | [not] dnsrbl "NAME"
//   OPTION = delay D | autowhite D | hold D | code "NNN" | ecode "N.N.N" | msg "TEXT"
//
// A RuleSet is immutable once built, so one instance is shared by every
// thread; a reload builds a new one and swaps it in.
//
// The core does no I/O: a caller asks dns_queries() which DNS names a
// request needs, resolves them (greylist/dns_resolver.h), then calls
// evaluate() with the answers. Missing or failed answers count as "not
// listed".
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "greylist/dns_resolver.h"
#include "greylist/request.h"
#include "greylist/status.h"

namespace greylist {

enum class RuleAction { kWhitelist, kGreylist, kBlacklist, kContinue, kGreytrap };

// "whitelist", "greylist", ... (the keyword of the file).
const char* rule_action_name(RuleAction action);

// Where a rule is: for log lines, whitelist-check and metrics.
struct RuleRef {
  std::string file;  // as given to load_file / parse
  int line = 0;      // of the rule's first token, 1-based
  std::string id;    // the optional "ID"; empty when the rule has none

  // "FILE:LINE" or "FILE:LINE (ID)".
  std::string to_string() const;
  // The metrics label: the id, or "FILE:LINE" for a rule without one.
  std::string label() const;
};

// A rule's options; unset ones fall back to the daemon's settings.
struct RuleOptions {
  std::optional<std::chrono::seconds> delay;      // greylist, continue
  std::optional<std::chrono::seconds> autowhite;  // greylist, continue
  std::optional<std::chrono::seconds> hold;       // greytrap only
  std::optional<std::string> code;                // "451", "550": SMTP reply code
  std::optional<std::string> ecode;               // "4.7.1": enhanced status code
  std::optional<std::string> msg;                 // reply text

  bool empty() const { return !delay && !autowhite && !hold && !code && !ecode && !msg; }
};

// The rule that decided, with the options to apply: its own, completed by
// those of the `continue` rules that matched before it (a later rule's
// option wins over an earlier one's).
struct RuleMatch {
  RuleRef rule;
  RuleAction action = RuleAction::kGreylist;  // never kContinue
  RuleOptions options;
  std::vector<RuleRef> continued;  // the continue rules that matched, in order
};

// One DNS list lookup a request needs.
struct DnsQuery {
  std::string name;  // "2.0.0.127.zone.example" (lower case, no final dot)
  std::string list;  // the dnsrbl's NAME, for log lines
};

// The first step of a decision: which lookups it needs, or, when none,
// the decision itself.
struct RuleAssessment {
  std::vector<DnsQuery> queries;   // as dns_queries()
  std::optional<RuleMatch> match;  // evaluate()'s answer; set only when queries is empty
};

// Which rules a walk tries. A client that authenticated (SMTP AUTH) is
// decided only by the rules that name `auth` (an auth clause or an auth
// list, negated or not): the others were written for anonymous MTAs, and a
// DNS list of dynamic addresses must not reject or delay one's own roaming
// users. Greylister chooses the scope (its SMTP AUTH step).
enum class RuleScope {
  kAll,         // every rule
  kNamingAuth,  // only the rules that name auth
};

class RuleSet {
 public:
  // Bounds of a rules file (untrusted only in that it may be large or
  // generated): a bigger file, or more rules, fails the load.
  static constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;
  static constexpr std::size_t kMaxRules = 100000;
  static constexpr std::chrono::seconds kDefaultHold{std::chrono::hours(24)};

  // Parses the whole text; `file` names it in errors and RuleRefs. On any
  // error: InvalidArgument("FILE:LINE: what is wrong or not supported"),
  // the first error of the file.
  static Result<std::shared_ptr<const RuleSet>> parse(std::string_view text,
                                                      const std::string& file);
  // Reads and parses `path`: IoError("PATH: reason") when it cannot be
  // read or is larger than kMaxFileBytes; parse's errors otherwise.
  static Result<std::shared_ptr<const RuleSet>> load_file(const std::string& path);

  // One walk of the rules in `scope`: the lookups `request` needs and,
  // when it needs none, the decision (so the common case costs one walk,
  // not two). Thread-safe.
  RuleAssessment assess(const Request& request, RuleScope scope = RuleScope::kAll) const;

  // The DNS names whose answers evaluate() may consult for `request`:
  // only the lists of rules that can still decide once the clauses known
  // without DNS are checked, each name once, in rule order. Empty when no
  // rule needs DNS (or the client address does not parse). Thread-safe.
  std::vector<DnsQuery> dns_queries(const Request& request) const;

  // The first matching rule in `scope` that is not `continue` (continue
  // rules that match pass their options on), nullopt when none matches. A
  // dnsrbl clause is true when `answers` lists an address inside the
  // dnsrbl's ADDRESS/MASK; absent, failed and NXDOMAIN answers are false.
  // Thread-safe.
  std::optional<RuleMatch> evaluate(const Request& request, const DnsAnswers& answers,
                                    RuleScope scope = RuleScope::kAll) const;

  std::size_t rule_count() const;
  std::size_t list_count() const;
  std::size_t dnsrbl_count() const;
  bool has_greytraps() const;  // a greytrap rule exists (cheap: computed at parse)
  bool names_auth() const;     // a rule names auth (cheap: computed at parse)
  // The longest `autowhite` of any rule (nullopt: none has one), for the
  // expiry sweep: a passed triplet may live that long. Cheap.
  std::optional<std::chrono::seconds> longest_autowhite() const;
  const std::string& file() const;

  ~RuleSet();
  RuleSet();  // no rules: evaluate() always answers nullopt

  struct Data;  // the parsed rules (src/core/rules/rule_model.h)
  explicit RuleSet(std::unique_ptr<Data> data);

 private:
  std::unique_ptr<Data> data_;
  bool has_greytraps_ = false;  // computed once: the core asks on every request
  bool names_auth_ = false;
  std::optional<std::chrono::seconds> longest_autowhite_;
};

}  // namespace greylist
