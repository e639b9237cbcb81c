#include "greylist/static_whitelist.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

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
Status read_file(const WhitelistFile& file, std::vector<std::string>& warnings, Parse parse,
                 Add add) {
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
    if (line.size() > whitelist::kMaxLineBytes) {
      return Status::InvalidArgument(where + ": line longer than " +
                                     std::to_string(whitelist::kMaxLineBytes) + " bytes");
    }
    const std::string_view text = whitelist::rule_text(line);
    if (text.empty()) continue;
    auto rule = parse(text);
    if (!rule.ok()) return Status::InvalidArgument(where + ": " + rule.status().message());
    add(std::move(rule).value(), label + ":" + std::to_string(number) + " " + std::string(text));
  }
  if (in.bad()) return Status::IoError("error reading " + file.path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

struct StaticWhitelist::Rules {
  std::vector<Sourced<whitelist::ClientRule>> name_rules;     // regex and names
  std::vector<Sourced<whitelist::ClientRule>> address_rules;  // networks
  std::vector<Sourced<whitelist::RecipientRule>> recipient_rules;
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
        file, loaded.warnings, whitelist::parse_client_rule,
        [&](whitelist::ClientRule rule, std::string source) {
          auto& list = std::holds_alternative<whitelist::Network>(rule) ? rules.address_rules
                                                                        : rules.name_rules;
          list.push_back({std::move(rule), std::move(source)});
        });
    if (!status.ok()) return status;
  }
  for (const auto& file : recipient_files) {
    const Status status = read_file(file, loaded.warnings, whitelist::parse_recipient_rule,
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
  for (const auto& [rule, source] : rules_->name_rules) {
    if (whitelist::matches_name(rule, request.client_name)) {
      return WhitelistMatch{"client whitelist", source};
    }
  }
  if (!rules_->address_rules.empty()) {
    if (const auto address = IpAddress::parse(request.client_address)) {
      for (const auto& [rule, source] : rules_->address_rules) {
        if (whitelist::matches_address(rule, *address)) {
          return WhitelistMatch{"client whitelist", source};
        }
      }
    }
  }
  for (const auto& [rule, source] : rules_->recipient_rules) {
    if (whitelist::matches_recipient(rule, request.recipient)) {
      return WhitelistMatch{"recipient whitelist", source};
    }
  }
  return std::nullopt;
}

std::size_t StaticWhitelist::client_rule_count() const {
  return rules_->name_rules.size() + rules_->address_rules.size();
}

std::size_t StaticWhitelist::recipient_rule_count() const { return rules_->recipient_rules.size(); }

}  // namespace greylist
