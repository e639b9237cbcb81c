// PolicyAttributes: the "name=value" attributes of one policy request,
// stored without a string per attribute. The request's bytes live in one
// buffer owned by this object; every name and value is a view into it
// (AttributeText), so the parser copies each byte once, as it arrives, and
// allocates about twice per request instead of twice per attribute.
//
// The attributes the core needs (KnownAttribute) are indexed as they are
// added: find(KnownAttribute) costs one array read, not a search.
//
// Copies and moves keep the views valid (they are re-pointed into the new
// owner's buffer). A value type; not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace greylist {

// A view into PolicyAttributes' buffer, valid as long as the attributes
// object it came from (and unchanged by copies or moves of it). Converts
// implicitly to std::string for callers that keep a copy.
class AttributeText : public std::string_view {
 public:
  AttributeText() = default;
  explicit AttributeText(std::string_view text) : std::string_view(text) {}
  operator std::string() const { return std::string(data(), size()); }  // NOLINT: implicit on purpose
};

// The attributes the policy front end looks up by name.
enum class KnownAttribute : std::uint8_t {
  kRequest,
  kProtocolState,
  kClientAddress,
  kClientName,
  kHeloName,
  kSender,
  kRecipient,
  kQueueId,
  kInstance,
  kEtrnDomain,
  kSaslUsername,
};
inline constexpr std::size_t kKnownAttributeCount = 11;

// The wire name of `attribute` ("client_address").
std::string_view attribute_name(KnownAttribute attribute);

class PolicyAttributes {
 public:
  static constexpr std::uint32_t kAbsent = UINT32_MAX;
  static constexpr std::array<std::uint32_t, kKnownAttributeCount> kNoneKnown = {
      kAbsent, kAbsent, kAbsent, kAbsent, kAbsent, kAbsent,
      kAbsent, kAbsent, kAbsent, kAbsent, kAbsent};

  using Entry = std::pair<AttributeText, AttributeText>;
  using Owned = std::vector<std::pair<std::string, std::string>>;

  PolicyAttributes() = default;
  // Built from copies, for requests assembled by hand (tests, other front
  // ends); same order, same duplicates, same index as the parser would give.
  PolicyAttributes(const Owned& attributes);  // NOLINT: implicit on purpose
  PolicyAttributes(std::initializer_list<std::pair<std::string, std::string>> attributes);
  PolicyAttributes(const PolicyAttributes& other);
  PolicyAttributes(PolicyAttributes&& other) noexcept;
  PolicyAttributes& operator=(const PolicyAttributes& other);
  PolicyAttributes& operator=(PolicyAttributes&& other) noexcept;
  ~PolicyAttributes() = default;

  // In arrival order, duplicates included.
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  // The value of the first attribute called `name`, nullptr when absent.
  // find(KnownAttribute) is constant time; find(name) searches.
  const AttributeText* find(KnownAttribute attribute) const;
  const AttributeText* find(std::string_view name) const;

  // Same names and values in the same order.
  bool operator==(const PolicyAttributes& other) const;
  bool operator==(const Owned& other) const;

  // --- Filling, for the parser. Bytes are appended to a pending line,
  // which is then either added as an attribute or dropped.
  // Reserves room for about `bytes` bytes in `attributes` attributes.
  void reserve(std::size_t bytes, std::size_t attributes);
  // Appends `bytes` to the pending line.
  void append_pending(std::string_view bytes);
  // The pending line so far.
  std::string_view pending() const;
  // Drops the last `count` bytes of the pending line (at most all of it).
  void drop_pending_back(std::size_t count);
  // Drops the pending line.
  void drop_pending();
  // Adds the pending line as name = its first `equals` bytes, value = the
  // bytes after position `equals` (the '='). Precondition: pending()[equals] == '='.
  // Returns false when the name was already present (it is added anyway).
  bool add_pending(std::size_t equals);

 private:
  // Re-points every view, which points into a buffer that began at
  // `old_base`, to the same offset in bytes_. Only addresses are compared:
  // `old_base` need not hold the bytes any more, but must not be freed yet.
  void repoint_from(const char* old_base);
  void copy_from(const PolicyAttributes& other);
  void reset();

  std::string bytes_;             // every kept line, back to back, then the pending one
  std::size_t pending_start_ = 0;  // where the pending line begins in bytes_
  std::vector<Entry> entries_;
  // Per KnownAttribute, the position in entries_ of its first occurrence.
  std::array<std::uint32_t, kKnownAttributeCount> known_ = kNoneKnown;
  // A filter over the other names added: a clear bit proves a name new, so
  // the duplicate check searches only on a (rare) set bit.
  static constexpr std::size_t kFilterBits = 256;
  std::array<std::uint64_t, kFilterBits / 64> seen_{};
};

}  // namespace greylist
