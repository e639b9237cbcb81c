#include "core/rules/list_index.h"

#include "core/rules/rule_value.h"

namespace greylist::rules {
namespace {

// Calls fn on `name` and on each of its parent names ("a.b.c", "b.c", "c")
// until it returns true.
template <typename Fn>
bool any_suffix(std::string_view name, Fn fn) {
  for (;;) {
    if (fn(name)) return true;
    const auto dot = name.find('.');
    if (dot == std::string_view::npos) return false;
    name.remove_prefix(dot + 1);
  }
}

// The local part as a user@ or user@domain value may have been written:
// whole, and cut before each '+' that has text after it (the +extension
// forms, as whitelist::matches_recipient reads them).
template <typename Fn>
bool any_local_form(std::string_view local, Fn fn) {
  if (fn(local)) return true;
  for (auto plus = local.find('+'); plus != std::string_view::npos; plus = local.find('+', plus + 1)) {
    if (plus > 0 && plus + 1 < local.size() && fn(local.substr(0, plus))) return true;
  }
  return false;
}

}  // namespace

ListIndex::ListIndex(Subject subject, const std::vector<Value>& values) : subject_(subject) {
  for (const Value& value : values) {
    if (const auto* exact = std::get_if<ExactText>(&value)) {
      exact_.insert(exact->text);
    } else if (const auto* suffix = std::get_if<whitelist::NameSuffix>(&value)) {
      (suffix->subdomains_only ? under_only_ : at_or_under_).insert(suffix->suffix);
    } else if (const auto* at = std::get_if<AtDomain>(&value)) {
      at_domains_.insert(at->domain);
    } else if (const auto* rule = std::get_if<whitelist::RecipientRule>(&value)) {
      if (const auto* address = std::get_if<whitelist::Address>(rule)) {
        addresses_.insert(address->user + "@" + address->domain);
      } else if (const auto* local = std::get_if<whitelist::LocalPart>(rule)) {
        local_parts_.insert(local->user);
      } else if (const auto* domain = std::get_if<whitelist::Domain>(rule)) {
        at_or_under_.insert(domain->domain);
      }
    } else {
      others_.push_back(value);
    }
  }
}

bool ListIndex::matches_name(std::string_view name) const {
  if (name.empty()) return false;
  if (at_or_under_.count(std::string(name)) != 0) return true;
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return false;
  return any_suffix(name.substr(dot + 1), [&](std::string_view parent) {
    const std::string key(parent);
    return at_or_under_.count(key) != 0 || under_only_.count(key) != 0;
  });
}

bool ListIndex::matches_address(std::string_view address) const {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  const std::string_view local = address.substr(0, at);
  const std::string_view domain = address.substr(at + 1);
  if (at_domains_.count(std::string(domain)) != 0) return true;
  if (!at_or_under_.empty() && any_suffix(domain, [&](std::string_view d) {
        return at_or_under_.count(std::string(d)) != 0;
      })) {
    return true;
  }
  return any_local_form(local, [&](std::string_view user) {
    return local_parts_.count(std::string(user)) != 0 ||
           (!addresses_.empty() && addresses_.count(std::string(user) + "@" + std::string(domain)) != 0);
  });
}

bool ListIndex::matches(const Subjects& subjects) const {
  switch (subject_) {
    case Subject::kDomain:
      if (matches_name(subjects.client_name)) return true;
      break;
    case Subject::kFrom:
    case Subject::kRcpt:
      if (matches_address(subject_ == Subject::kFrom ? subjects.sender : subjects.recipient)) return true;
      break;
    case Subject::kHelo:
      if (exact_.count(subjects.helo) != 0) return true;
      break;
    case Subject::kAuth:
      if (!subjects.auth.empty() && exact_.count(subjects.auth) != 0) return true;
      break;
    case Subject::kAddr: break;
  }
  for (const Value& value : others_) {
    if (value_matches(subject_, value, subjects)) return true;
  }
  return false;
}

}  // namespace greylist::rules
