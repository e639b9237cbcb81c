#include "policy/policy_attributes.h"

#include <algorithm>

namespace greylist {
namespace {

// In KnownAttribute's order.
constexpr std::array<std::string_view, kKnownAttributeCount> kKnownNames = {
    "request", "protocol_state", "client_address", "client_name", "helo_name",
    "sender",  "recipient",      "queue_id",       "instance",    "etrn_domain",
    "sasl_username",
};

constexpr std::size_t kNotKnown = kKnownAttributeCount;

std::size_t known_slot(std::string_view name) {
  for (std::size_t i = 0; i < kKnownNames.size(); ++i) {
    if (kKnownNames[i] == name) return i;
  }
  return kNotKnown;
}

// FNV-1a; only feeds the duplicate filter.
std::size_t name_hash(std::string_view name) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : name) {
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return static_cast<std::size_t>(hash >> 32);
}

}  // namespace

std::string_view attribute_name(KnownAttribute attribute) {
  return kKnownNames[static_cast<std::size_t>(attribute)];
}

PolicyAttributes::PolicyAttributes(const Owned& attributes) {
  std::size_t bytes = 0;
  for (const auto& [name, value] : attributes) bytes += name.size() + 1 + value.size();
  reserve(bytes, attributes.size());
  for (const auto& [name, value] : attributes) {
    append_pending(name);
    append_pending("=");
    append_pending(value);
    add_pending(name.size());
  }
}

PolicyAttributes::PolicyAttributes(
    std::initializer_list<std::pair<std::string, std::string>> attributes)
    : PolicyAttributes(Owned(attributes)) {}

PolicyAttributes::PolicyAttributes(const PolicyAttributes& other) { copy_from(other); }

PolicyAttributes::PolicyAttributes(PolicyAttributes&& other) noexcept
    : pending_start_(other.pending_start_), known_(other.known_), seen_(other.seen_) {
  // A short buffer lives inside the std::string and does not move with it.
  const char* old_base = other.bytes_.data();
  bytes_ = std::move(other.bytes_);
  entries_ = std::move(other.entries_);
  repoint_from(old_base);
  other.reset();
}

PolicyAttributes& PolicyAttributes::operator=(const PolicyAttributes& other) {
  if (this != &other) copy_from(other);
  return *this;
}

PolicyAttributes& PolicyAttributes::operator=(PolicyAttributes&& other) noexcept {
  if (this == &other) return *this;
  const char* old_base = other.bytes_.data();
  bytes_ = std::move(other.bytes_);
  entries_ = std::move(other.entries_);
  pending_start_ = other.pending_start_;
  known_ = other.known_;
  seen_ = other.seen_;
  repoint_from(old_base);
  other.reset();
  return *this;
}

void PolicyAttributes::reset() {
  bytes_.clear();
  entries_.clear();
  pending_start_ = 0;
  known_ = kNoneKnown;
  seen_ = {};
}

void PolicyAttributes::copy_from(const PolicyAttributes& other) {
  bytes_ = other.bytes_;
  entries_ = other.entries_;
  pending_start_ = other.pending_start_;
  known_ = other.known_;
  seen_ = other.seen_;
  repoint_from(other.bytes_.data());
}

void PolicyAttributes::repoint_from(const char* old_base) {
  const char* base = bytes_.data();
  if (base == old_base) return;
  const auto moved = [&](const AttributeText& text) {
    return AttributeText(std::string_view(base + (text.data() - old_base), text.size()));
  };
  for (auto& [name, value] : entries_) {
    name = moved(name);
    value = moved(value);
  }
}

const AttributeText* PolicyAttributes::find(KnownAttribute attribute) const {
  const std::uint32_t at = known_[static_cast<std::size_t>(attribute)];
  return at == kAbsent ? nullptr : &entries_[at].second;
}

const AttributeText* PolicyAttributes::find(std::string_view name) const {
  if (const std::size_t slot = known_slot(name); slot != kNotKnown) {
    return find(static_cast<KnownAttribute>(slot));
  }
  for (const auto& [attribute, value] : entries_) {
    if (attribute == name) return &value;
  }
  return nullptr;
}

bool PolicyAttributes::operator==(const PolicyAttributes& other) const {
  return entries_ == other.entries_;
}

bool PolicyAttributes::operator==(const Owned& other) const {
  return std::equal(entries_.begin(), entries_.end(), other.begin(), other.end(),
                    [](const Entry& a, const auto& b) {
                      return a.first == b.first && a.second == b.second;
                    });
}

void PolicyAttributes::reserve(std::size_t bytes, std::size_t attributes) {
  const char* old_base = bytes_.data();
  bytes_.reserve(bytes);
  repoint_from(old_base);
  entries_.reserve(attributes);
}

void PolicyAttributes::append_pending(std::string_view bytes) {
  const std::size_t needed = bytes_.size() + bytes.size();
  if (needed > bytes_.capacity()) {
    // Grow by hand so the old buffer is still allocated while the views
    // are re-pointed.
    std::string grown;
    grown.reserve(std::max(needed, 2 * bytes_.capacity()));
    grown.append(bytes_);
    const char* old_base = bytes_.data();
    bytes_.swap(grown);
    repoint_from(old_base);
  }
  bytes_.append(bytes);
}

std::string_view PolicyAttributes::pending() const {
  return std::string_view(bytes_).substr(pending_start_);
}

void PolicyAttributes::drop_pending_back(std::size_t count) {
  bytes_.resize(bytes_.size() - std::min(count, bytes_.size() - pending_start_));
}

void PolicyAttributes::drop_pending() { bytes_.resize(pending_start_); }

bool PolicyAttributes::add_pending(std::size_t equals) {
  const std::string_view line = pending();
  const AttributeText name(line.substr(0, equals));
  const AttributeText value(line.substr(equals + 1));
  pending_start_ = bytes_.size();

  bool unique = true;
  const std::size_t slot = known_slot(name);
  if (slot != kNotKnown) {
    unique = known_[slot] == kAbsent;
    if (unique) known_[slot] = static_cast<std::uint32_t>(entries_.size());
  } else {
    // Search the earlier names only when the filter says one may match.
    const std::size_t bit = name_hash(name) % kFilterBits;
    std::uint64_t& word = seen_[bit / 64];
    const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
    if ((word & mask) != 0) {
      unique = std::none_of(entries_.begin(), entries_.end(),
                            [&](const Entry& entry) { return entry.first == name; });
    }
    word |= mask;
  }
  entries_.emplace_back(name, value);
  return unique;
}

}  // namespace greylist
