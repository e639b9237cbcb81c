#include "daemon/metrics.h"

#include <filesystem>
#include <sstream>

namespace greylist {
namespace {

constexpr const char* kFrontEndNames[] = {"policy", "milter", "other"};

// Reason label, and the action it belongs to; "error" counts every
// Action::kError, "other" the reasons that never come from the core.
struct ReasonInfo {
  const char* reason;
  const char* action;
};
constexpr ReasonInfo kReasonInfo[] = {
    {"new", "greylist"},           {"early-retry", "greylist"},
    {"triplet found", "pass"},     {"pool", "pass"},
    {"client whitelist", "whitelisted"}, {"recipient whitelist", "whitelisted"},
    {"client AWL", "whitelisted"}, {"domain AWL", "whitelisted"},
    {"error", "error"},            {"other", "pass"},
    {"rule whitelist", "whitelisted"}, {"rule blacklist", "reject"},
    {"greytrap", "greylist"},      {"SMTP AUTH", "whitelisted"}};
constexpr std::size_t kErrorIndex = 8;
constexpr std::size_t kOtherIndex = 9;

constexpr const char* kOtherLabel = "(other)";
// Indexed by DnsAnswer::Kind.
constexpr const char* kAnswerNames[] = {"listed", "not_listed", "failed"};

std::size_t reason_index(const Decision& decision) {
  if (decision.action == Decision::Action::kError) return kErrorIndex;
  switch (decision.reason) {
    case Decision::Reason::kNew: return 0;
    case Decision::Reason::kEarlyRetry: return 1;
    case Decision::Reason::kTripletFound: return 2;
    case Decision::Reason::kPool: return 3;
    case Decision::Reason::kClientWhitelist: return 4;
    case Decision::Reason::kRecipientWhitelist: return 5;
    case Decision::Reason::kClientAwl: return 6;
    case Decision::Reason::kDomainAwl: return 7;
    case Decision::Reason::kStoreError: return kErrorIndex;
    case Decision::Reason::kRuleWhitelist: return 10;
    case Decision::Reason::kRuleBlacklist: return 11;
    case Decision::Reason::kGreytrap: return 12;
    case Decision::Reason::kSmtpAuth: return 13;
    case Decision::Reason::kSkipNetwork:
    case Decision::Reason::kNoClientAddress: break;
  }
  return kOtherIndex;
}

std::size_t front_end_index(const char* front_end) {
  const std::string_view name = front_end != nullptr ? front_end : "";
  if (name == "policy") return 0;
  if (name == "milter") return 1;
  return 2;
}

// A Prometheus label value: backslash, double quote and line feed escaped
// (a rule's label holds the rules file's path).
std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::uint64_t directory_bytes(const std::string& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code size_ec;
    if (entry.is_regular_file(size_ec)) {
      const auto size = entry.file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

// A counter of reloads by result ("ok", "failed").
void render_reload_counter(std::ostream& out, const char* name, const char* help,
                           const std::atomic<std::uint64_t>& ok,
                           const std::atomic<std::uint64_t>& failed) {
  out << "# HELP " << name << " " << help << "\n"
      << "# TYPE " << name << " counter\n"
      << name << "{result=\"ok\"} " << ok.load(std::memory_order_relaxed) << "\n"
      << name << "{result=\"failed\"} " << failed.load(std::memory_order_relaxed) << "\n";
}

// A metric of one sample, without labels.
void render_sample(std::ostream& out, const char* name, const char* type, const char* help,
                   std::uint64_t value) {
  out << "# HELP " << name << " " << help << "\n"
      << "# TYPE " << name << " " << type << "\n"
      << name << " " << value << "\n";
}

// The SPF checker's counters (SpfCheckerStats).
void render_spf_checker(std::ostream& out, const SpfCheckerStats& stats) {
  render_sample(out, "greylist_spf_checks_total", "counter",
                "SPF checks of (sender domain, client address) asked by the front ends.",
                stats.checks);
  render_sample(out, "greylist_spf_probes_total", "counter",
                "SPF probe checks: a pass through a, mx or exists checked again for an address "
                "outside every network, to tell a wildcard from a list of the domain's hosts.",
                stats.probes);
  render_sample(out, "greylist_spf_cache_hits_total", "counter",
                "SPF checks and probes answered from the verdict cache.", stats.cache_hits);
  render_sample(out, "greylist_spf_dns_rounds_total", "counter",
                "Batches of DNS queries SPF evaluations asked.", stats.dns_rounds);
  render_sample(out, "greylist_spf_timeouts_total", "counter",
                "SPF evaluations cut by --dns-timeout (temperror).", stats.timeouts);
  render_sample(out, "greylist_spf_cached_verdicts", "gauge",
                "SPF verdicts in the cache now.", stats.cached);
}

}  // namespace

Metrics::Metrics(std::string dbdir)
    : dbdir_(std::move(dbdir)), started_(std::chrono::system_clock::now()) {}

std::string Metrics::reason_label(const Decision& decision) {
  return kReasonInfo[reason_index(decision)].reason;
}

void Metrics::on_decision(const Request& request, const Decision& decision,
                          std::chrono::nanoseconds elapsed) noexcept {
  const std::size_t front_end = front_end_index(request.front_end);
  decisions_[front_end][reason_index(decision)].fetch_add(1, std::memory_order_relaxed);
  if (decision.action == Decision::Action::kError) {
    store_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  if (decision.rule) count_rule_match(*decision.rule);
  Histogram& histogram = latency_[front_end];
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < kBucketSeconds.size() && seconds > kBucketSeconds[bucket]) ++bucket;
  histogram.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  histogram.count.fetch_add(1, std::memory_order_relaxed);
  histogram.sum_nanoseconds.fetch_add(static_cast<std::uint64_t>(elapsed.count()),
                                      std::memory_order_relaxed);
}

void Metrics::on_whitelist_reload(bool ok) noexcept {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

void Metrics::on_rules_reload(bool ok) noexcept {
  (ok ? rules_reloads_ok_ : rules_reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

void Metrics::on_config_reload(bool ok, std::size_t restart_pending) noexcept {
  (ok ? config_reloads_ok_ : config_reloads_failed_).fetch_add(1, std::memory_order_relaxed);
  if (ok) restart_pending_.store(restart_pending, std::memory_order_relaxed);
}

void Metrics::count_rule_match(const RuleMatch& match) noexcept {
  try {
    std::pair<std::string, std::string> key{match.rule.label(), rule_action_name(match.action)};
    std::lock_guard lock(rules_mutex_);
    auto found = rule_matches_.find(key);
    if (found == rule_matches_.end() && rule_matches_.size() >= kMaxRuleLabels) {
      key.first = kOtherLabel;
      found = rule_matches_.find(key);
    }
    if (found == rule_matches_.end()) found = rule_matches_.emplace(std::move(key), 0).first;
    ++found->second;
  } catch (...) {
    // Out of memory: the match goes uncounted, the decision stands.
  }
}

void Metrics::on_dns_list_answer(std::string_view list, DnsAnswer::Kind kind) noexcept {
  try {
    std::lock_guard lock(rules_mutex_);
    auto found = list_answers_.find(list);
    if (found == list_answers_.end()) {
      const std::string_view name = list_answers_.size() >= kMaxListLabels ? kOtherLabel : list;
      found = list_answers_.try_emplace(std::string(name)).first;
    }
    ++found->second[static_cast<std::size_t>(kind)];
  } catch (...) {
    // Out of memory: the answer goes uncounted.
  }
}

void Metrics::on_spf_result(SpfResult result) noexcept {
  const auto index = static_cast<std::size_t>(result);
  if (index < kSpfResults) spf_results_[index].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::set_spf_stats_source(SpfStatsSource source) { spf_stats_ = std::move(source); }

void Metrics::render_spf(std::ostream& out) const {
  out << "# HELP greylist_spf_results_total SPF results of --pool-by-spf checks (pass: keyed by "
         "the sender's domain; temperror: a DNS failure or timeout, keyed by network).\n"
      << "# TYPE greylist_spf_results_total counter\n";
  for (std::size_t r = 0; r < kSpfResults; ++r) {
    out << "greylist_spf_results_total{result=\"" << to_string(static_cast<SpfResult>(r)) << "\"} "
        << spf_results_[r].load(std::memory_order_relaxed) << "\n";
  }
  const std::optional<SpfCheckerStats> stats = spf_stats_ ? spf_stats_() : std::nullopt;
  if (stats) render_spf_checker(out, *stats);
}

void Metrics::render_reloads(std::ostream& out) const {
  render_reload_counter(out, "greylist_whitelist_reloads_total",
                        "Whitelist reloads (SIGHUP) by result.", reloads_ok_, reloads_failed_);
  render_reload_counter(out, "greylist_config_reloads_total",
                        "Settings reloads (SIGHUP) by result.", config_reloads_ok_,
                        config_reloads_failed_);
  out << "# HELP greylist_config_restart_pending Changed settings that wait for a restart.\n"
      << "# TYPE greylist_config_restart_pending gauge\n"
      << "greylist_config_restart_pending " << restart_pending_.load(std::memory_order_relaxed)
      << "\n";
}

void Metrics::render_rules(std::ostream& out) const {
  render_reload_counter(out, "greylist_rules_reloads_total",
                        "Rules file reloads (SIGHUP) by result.", rules_reloads_ok_,
                        rules_reloads_failed_);
  out << "# HELP greylist_rule_matches_total Decisions a rule made or whose options applied, by "
         "rule (its id, or FILE:LINE) and action.\n"
      << "# TYPE greylist_rule_matches_total counter\n";
  std::lock_guard lock(rules_mutex_);
  for (const auto& [key, count] : rule_matches_) {
    out << "greylist_rule_matches_total{rule=\"" << label_value(key.first) << "\",action=\""
        << key.second << "\"} " << count << "\n";
  }
  out << "# HELP greylist_dns_list_answers_total DNS list answers by list and answer (failed: "
         "timed out or failed, counted as not listed).\n"
      << "# TYPE greylist_dns_list_answers_total counter\n";
  for (const auto& [list, answers] : list_answers_) {
    for (std::size_t kind = 0; kind < answers.size(); ++kind) {
      out << "greylist_dns_list_answers_total{list=\"" << label_value(list) << "\",answer=\""
          << kAnswerNames[kind] << "\"} " << answers[kind] << "\n";
    }
  }
}

std::string Metrics::render() const {
  std::ostringstream out;
  out << "# HELP greylist_decisions_total Greylisting decisions by front end, action and reason.\n"
      << "# TYPE greylist_decisions_total counter\n";
  for (std::size_t f = 0; f < kFrontEnds; ++f) {
    for (std::size_t r = 0; r < kReasons; ++r) {
      out << "greylist_decisions_total{front_end=\"" << kFrontEndNames[f] << "\",action=\""
          << kReasonInfo[r].action << "\",reason=\"" << kReasonInfo[r].reason << "\"} "
          << decisions_[f][r].load(std::memory_order_relaxed) << "\n";
    }
  }
  out << "# HELP greylist_decision_duration_seconds Time to decide one recipient (database "
         "included).\n"
      << "# TYPE greylist_decision_duration_seconds histogram\n";
  for (std::size_t f = 0; f < kFrontEnds; ++f) {
    const Histogram& h = latency_[f];
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      cumulative += h.buckets[b].load(std::memory_order_relaxed);
      out << "greylist_decision_duration_seconds_bucket{front_end=\"" << kFrontEndNames[f]
          << "\",le=\"";
      if (b < kBucketSeconds.size()) {
        out << kBucketSeconds[b];
      } else {
        out << "+Inf";
      }
      out << "\"} " << cumulative << "\n";
    }
    out << "greylist_decision_duration_seconds_sum{front_end=\"" << kFrontEndNames[f] << "\"} "
        << static_cast<double>(h.sum_nanoseconds.load(std::memory_order_relaxed)) / 1e9 << "\n"
        << "greylist_decision_duration_seconds_count{front_end=\"" << kFrontEndNames[f] << "\"} "
        << h.count.load(std::memory_order_relaxed) << "\n";
  }
  out << "# HELP greylist_store_errors_total Decisions the database could not make (answered by "
         "--on-error).\n"
      << "# TYPE greylist_store_errors_total counter\n"
      << "greylist_store_errors_total " << store_errors_.load(std::memory_order_relaxed) << "\n";
  render_reloads(out);
  render_rules(out);
  render_spf(out);
  out << "# HELP greylist_database_bytes Bytes of the files in the database directory.\n"
      << "# TYPE greylist_database_bytes gauge\n"
      << "greylist_database_bytes " << directory_bytes(dbdir_) << "\n"
      << "# HELP greylist_start_time_seconds When the daemon started (Unix time).\n"
      << "# TYPE greylist_start_time_seconds gauge\n"
      << "greylist_start_time_seconds "
      << std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count()
      << "\n";
  return out.str();
}

}  // namespace greylist
