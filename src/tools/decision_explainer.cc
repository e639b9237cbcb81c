#include "tools/decision_explainer.h"

#include "greylist/dry_run_store.h"
#include "greylist/log_line.h"
#include "greylist/record_codec.h"
#include "greylist/triplet.h"
#include "tools/ctl_output.h"

namespace greylist {
namespace {

std::string entry_times(const TripletRecord& record) {
  return "first seen " + iso8601(record.first_seen) + ", last seen " + iso8601(record.last_seen) +
         ", " + (record.passed ? "passed" : "waiting");
}

std::string dns_answer_text(const DnsAnswers& answers, const std::string& name) {
  const auto it = answers.find(name);
  if (it == answers.end()) return "no answer (counts as not listed)";
  switch (it->second.kind) {
    case DnsAnswer::Kind::kListed: {
      std::string text = "listed";
      const char* separator = " (";
      for (const auto& a : it->second.addresses) {
        text += separator + std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                std::to_string(a[2]) + "." + std::to_string(a[3]);
        separator = ", ";
      }
      return text + ")";
    }
    case DnsAnswer::Kind::kNotListed: return "not listed";
    case DnsAnswer::Kind::kFailed: break;
  }
  return "failed (counts as not listed)";
}

// "FILE:LINE (ID) ACTION[, delay 900 s][, autowhite ...][, after continue ...]".
std::string match_text(const RuleMatch& match) {
  std::string text = match.rule.to_string() + " " + rule_action_name(match.action);
  const RuleOptions& o = match.options;
  if (o.delay) text += ", delay " + std::to_string(o.delay->count()) + " s";
  if (o.autowhite) text += ", autowhite " + std::to_string(o.autowhite->count()) + " s";
  if (o.hold) text += ", hold " + std::to_string(o.hold->count()) + " s";
  if (o.code || o.ecode || o.msg) {
    text += ", reply \"" + o.code.value_or("") + (o.ecode ? " " + *o.ecode : "") +
            (o.msg ? " " + *o.msg : "") + "\"";
  }
  for (const RuleRef& ref : match.continued) text += ", after continue " + ref.to_string();
  return text;
}

// Turns each step the Greylister reports into a line of narration.
class Narrator final : public DecisionTrace {
 public:
  Narrator(const Request& request, const GreylistConfig& config, EpochSeconds now)
      : request_(request), config_(config), now_(now),
        network_(client_network(request.client_address, config)) {}

  std::vector<std::string> checks;

  void smtp_auth(std::string_view user, const std::optional<RuleMatch>& match) override {
    const std::string head = "SMTP AUTH: " + printable(std::string(user));
    checks.push_back(head + (match ? ": a rule naming auth matched (only those apply)"
                                   : ": no rule naming auth matched"));
  }

  void static_whitelist(bool loaded, const std::optional<WhitelistMatch>& match) override {
    if (!loaded) {
      checks.push_back("static whitelist: none loaded");
    } else if (match) {
      checks.push_back("static whitelist: " + reason_text(whitelist_decision(*match)));
    } else {
      checks.push_back("static whitelist: no match");
    }
  }

  void client_awl(std::uint32_t threshold, const std::optional<ClientRecord>& record) override {
    if (threshold == 0) {
      checks.push_back("client AWL: off");
    } else if (!record) {
      checks.push_back("client AWL: " + network_ + ": no successful retry counted");
    } else {
      checks.push_back("client AWL: " + network_ + ": " + std::to_string(record->deliveries) +
                       " of " + std::to_string(threshold) + " successful retries, last " +
                       iso8601(record->last_seen));
    }
  }

  void domain_awl(std::uint32_t threshold, bool has_domain,
                  const std::optional<DomainRecord>& record) override {
    if (threshold == 0) {
      checks.push_back("domain AWL: off");
      return;
    }
    if (!has_domain) {
      checks.push_back("domain AWL: the sender has no domain");
      return;
    }
    const std::string domain(address_domain(normalize_sender(request_.sender)));
    const auto senders = record ? record->sender_hashes.size() : 0;
    // The key's client part (key_layout.h): the SPF pool on a pass.
    const bool spf_pool = config_.pool_by_spf && !request_.spf_pass_domain.empty();
    const std::string from = spf_pool ? "the addresses its SPF authorizes" : network_;
    checks.push_back("domain AWL: " + domain + " from " + from + ": " +
                     std::to_string(senders) + " of " + std::to_string(threshold) +
                     " senders passed" +
                     (record ? ", last " + iso8601(record->last_seen) : std::string()));
  }

  void rule(const RuleSet* rules, const std::vector<DnsQuery>& queries, const DnsAnswers& answers,
            const std::optional<RuleMatch>& match) override {
    if (rules == nullptr) {
      checks.push_back("rules: none loaded");
      return;
    }
    for (const DnsQuery& query : queries) {
      checks.push_back("dnsrbl \"" + printable(query.list) + "\": " + query.name + ": " +
                       dns_answer_text(answers, query.name));
    }
    checks.push_back("rules: " + (match ? printable(match_text(*match))
                                        : "no rule of " + std::to_string(rules->rule_count()) +
                                              " matched"));
  }

  void greytrap(GreytrapStep step, std::string_view network,
                const std::optional<TrapRecord>& record) override {
    const std::string where = "greytrap: " + std::string(network);
    if (step == GreytrapStep::kNotLookedUp) {
      checks.push_back("greytrap: no greytrap rule (nothing read)");
    } else if (!record) {
      checks.push_back(where + ": not trapped");
    } else if (step == GreytrapStep::kHit) {
      checks.push_back(where + ": trapped by this request until " + iso8601(record->hold_until));
    } else if (record->hold_until > now_) {
      checks.push_back(where + ": trapped since " + iso8601(record->trapped_at) + " until " +
                       iso8601(record->hold_until));
    } else {
      checks.push_back(where + ": trapped since " + iso8601(record->trapped_at) +
                       ", hold over at " + iso8601(record->hold_until));
    }
  }

  void triplet(std::string_view client, const StoredTriplet& stored,
               const TripletChange& change) override {
    const std::string triplet = "triplet (" + std::string(client) + ", " +
                                normalize_sender(request_.sender) + ", " +
                                normalize_recipient(request_.recipient) + ")";
    if (stored.record) {
      checks.push_back(triplet + ": " + entry_times(*stored.record));
    } else {
      checks.push_back(triplet + ": " +
                       (stored.present ? "undecodable, treated as new" : "not seen yet"));
    }
    if (stored.network_entry_looked_up) {
      checks.push_back("triplet keyed by the network " + network_ + ": " +
                       (stored.network_entry ? entry_times(*stored.network_entry) +
                                                   ": copied under the pool key"
                                             : std::string("not seen either")));
    }
    if (change.restarted) {
      checks.push_back("retry window: " + std::to_string(config_.retry_window) +
                       " s passed since it was first seen: it starts over");
    }
    if (change.aged_out) {
      checks.push_back("passed, but last seen longer ago than its lifetime (--max-age, or the "
                       "rule's autowhite): it starts over");
    }
    if (change.outcome == TripletChange::Outcome::kFirstPass) {
      checks.push_back("first pass after the delay: the header would say " +
                       std::to_string(now_ - change.first_seen) + " seconds");
    }
  }


 private:
  const Request& request_;
  const GreylistConfig& config_;
  const EpochSeconds now_;
  const std::string network_;
};

}  // namespace

DecisionExplainer::DecisionExplainer(const Greylister& greylister, Store& store)
    : greylister_(greylister), store_(store) {}

Result<Explanation> DecisionExplainer::explain(const Request& request, EpochSeconds now,
                                               const DnsAnswers& answers) const {
  DryRunStore view(store_);
  const GreylistConfig config = greylister_.config();  // the narrator keeps a reference
  Narrator narrator(request, config, now);
  Explanation out;
  out.decision = greylister_.decide_traced(request, now, view, narrator, answers);
  if (out.decision.action == Decision::Action::kError) {
    return Status::IoError(reason_text(out.decision));
  }
  out.checks = std::move(narrator.checks);
  return out;
}

}  // namespace greylist
