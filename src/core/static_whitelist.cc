#include "greylist/static_whitelist.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "whitelist_rules.h"

namespace greylist {

namespace {

template <typename Rule>
struct Sourced {
  Rule rule;
  std::string source;  // "whitelist_clients:42 .outlook.com", for the log
};

// Reads one file line by line, handing each rule text to `add`.
template <typename Parse, typename Add>
Status read_file(const WhitelistFile& file, std::vector<std::string>& warnings,
                 std::size_t& skipped, Parse parse, Add add) {
  std::error_code ec;
  if (!std::filesystem::exists(file.path, ec)) {
    if (!file.optional) warnings.push_back("can't open " + file.path + ": no such file");
    return Status::Ok();
  }
  std::ifstream in(file.path);
  if (!in) return Status::IoError("can't open " + file.path + ": " + std::strerror(errno));
  const std::string label = std::filesystem::path(file.path).filename().string();
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = file.path + ":" + std::to_string(number);
    // A line postgrey would skip is skipped, with a warning (issue 15);
    // the rest of the file is used.
    if (line.size() > whitelist::kMaxLineBytes) {
      warnings.push_back(where + ": line longer than " +
                         std::to_string(whitelist::kMaxLineBytes) + " bytes: skipped");
      ++skipped;
      continue;
    }
    const std::string_view text = whitelist::rule_text(line);
    if (text.empty()) continue;
    auto rule = parse(text);
    if (!rule.ok()) {
      warnings.push_back(where + ": " + rule.status().message() + ": skipped");
      ++skipped;
      continue;
    }
    add(std::move(rule).value(), label + ":" + std::to_string(number) + " " + std::string(text));
  }
  if (in.bad()) return Status::IoError("error reading " + file.path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

// Name rules are matched through hash maps of their names, so a request
// costs one look-up per label of the client name, not one comparison per
// rule; regexes are scanned. Network rules likewise: one hash map per
// (family, prefix length) of the networks' base addresses, so a request
// costs one look-up per distinct prefix length. The rule reported is the
// first matching one in file order (`order`), as with a plain scan.
struct StaticWhitelist::Rules {
  struct NameRule {
    std::size_t order;
    std::string source;
  };
  struct RegexRule {
    std::size_t order;
    whitelist::ClientRule rule;
    std::string source;
  };
  std::unordered_map<std::string, NameRule> names;            // "example.com": it and below
  std::unordered_map<std::string, NameRule> subdomains_only;  // ".example.com": below only
  std::vector<RegexRule> regexes;
  std::size_t name_rule_count = 0;
  std::vector<std::string> network_sources;  // of the network rules, in file order
  std::vector<Sourced<whitelist::RecipientRule>> recipient_rules;

  using AddressBytes = std::array<std::uint8_t, 16>;
  struct AddressHash {
    std::size_t operator()(const AddressBytes& bytes) const {
      std::uint64_t high = 0;
      std::uint64_t low = 0;
      std::memcpy(&high, bytes.data(), 8);
      std::memcpy(&low, bytes.data() + 8, 8);
      return std::hash<std::uint64_t>()(high * 0x9e3779b97f4a7c15ULL ^ low);
    }
  };
  struct NetworkGroup {
    IpAddress::Family family;
    int prefix;
    // Base address -> index of its first rule in network_sources.
    std::unordered_map<AddressBytes, std::size_t, AddressHash> first_rule;
  };
  std::vector<NetworkGroup> network_groups;

  void add_network_rule(const IpNetwork& network, std::size_t index) {
    const IpAddress::Family family = network.base().family();
    auto group = std::find_if(network_groups.begin(), network_groups.end(), [&](const NetworkGroup& g) {
      return g.family == family && g.prefix == network.prefix();
    });
    if (group == network_groups.end()) {
      network_groups.push_back({family, network.prefix(), {}});
      group = network_groups.end() - 1;
    }
    group->first_rule.try_emplace(network.base().bytes(), index);  // first one wins
  }

  // The first network rule in file order that contains `address`.
  const std::string* match_address(const IpAddress& address) const {
    std::size_t best = network_sources.size();
    for (const NetworkGroup& group : network_groups) {
      if (group.family != address.family()) continue;
      const auto it = group.first_rule.find(address.masked(group.prefix).bytes());
      if (it != group.first_rule.end() && it->second < best) best = it->second;
    }
    return best < network_sources.size() ? &network_sources[best] : nullptr;
  }

  void add_client_rule(whitelist::ClientRule rule, std::string source) {
    if (const auto* network = std::get_if<whitelist::Network>(&rule)) {
      add_network_rule(network->network, network_sources.size());
      network_sources.push_back(std::move(source));
      return;
    }
    const std::size_t order = name_rule_count++;
    if (const auto* suffix = std::get_if<whitelist::NameSuffix>(&rule)) {
      auto& map = suffix->subdomains_only ? subdomains_only : names;
      map.try_emplace(suffix->suffix, NameRule{order, std::move(source)});  // first one wins
      return;
    }
    regexes.push_back({order, std::move(rule), std::move(source)});
  }

  // The first name rule in file order that matches `client_name`.
  const std::string* match_name(std::string_view client_name) const {
    if (client_name.empty() || client_name.size() > 253 || client_name == "unknown") return nullptr;
    std::string name(client_name);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "unknown") return nullptr;
    const NameRule* best = nullptr;
    const auto consider = [&best](const std::unordered_map<std::string, NameRule>& map,
                                  std::string_view key) {
      if (map.empty()) return;
      const auto it = map.find(std::string(key));
      if (it != map.end() && (best == nullptr || it->second.order < best->order)) {
        best = &it->second;
      }
    };
    consider(names, name);
    for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
      const std::string_view parent = std::string_view(name).substr(dot + 1);
      consider(names, parent);
      consider(subdomains_only, parent);
    }
    for (const auto& regex : regexes) {
      if (best != nullptr && regex.order > best->order) break;
      if (whitelist::matches_name(regex.rule, client_name)) return &regex.source;
    }
    return best != nullptr ? &best->source : nullptr;
  }
};

StaticWhitelist::StaticWhitelist() : rules_(std::make_unique<Rules>()) {}
StaticWhitelist::~StaticWhitelist() = default;

Result<StaticWhitelist::Loaded> StaticWhitelist::load(
    const std::vector<WhitelistFile>& client_files,
    const std::vector<WhitelistFile>& recipient_files) {
  auto whitelist = std::make_shared<StaticWhitelist>();
  Rules& rules = *whitelist->rules_;
  Loaded loaded;
  for (const auto& file : client_files) {
    const Status status = read_file(
        file, loaded.warnings, loaded.skipped_lines, whitelist::parse_client_rule,
        [&](whitelist::ClientRule rule, std::string source) {
          rules.add_client_rule(std::move(rule), std::move(source));
        });
    if (!status.ok()) return status;
  }
  for (const auto& file : recipient_files) {
    const Status status = read_file(file, loaded.warnings, loaded.skipped_lines,
                                    whitelist::parse_recipient_rule,
                                    [&](whitelist::RecipientRule rule, std::string source) {
                                      rules.recipient_rules.push_back(
                                          {std::move(rule), std::move(source)});
                                    });
    if (!status.ok()) return status;
  }
  loaded.whitelist = std::move(whitelist);
  return loaded;
}

std::optional<WhitelistMatch> StaticWhitelist::match(const Request& request) const {
  if (const std::string* source = rules_->match_name(request.client_name)) {
    return WhitelistMatch{WhitelistMatch::List::kClients, *source};
  }
  if (!rules_->network_sources.empty()) {
    if (const auto address = IpAddress::parse(request.client_address)) {
      if (const std::string* source = rules_->match_address(*address)) {
        return WhitelistMatch{WhitelistMatch::List::kClients, *source};
      }
    }
  }
  for (const auto& [rule, source] : rules_->recipient_rules) {
    if (whitelist::matches_recipient(rule, request.recipient)) {
      return WhitelistMatch{WhitelistMatch::List::kRecipients, source};
    }
  }
  return std::nullopt;
}

std::size_t StaticWhitelist::client_rule_count() const {
  return rules_->name_rule_count + rules_->network_sources.size();
}

std::size_t StaticWhitelist::recipient_rule_count() const { return rules_->recipient_rules.size(); }

}  // namespace greylist
