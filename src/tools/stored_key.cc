#include "tools/stored_key.h"

#include <charconv>

namespace greylist {
namespace {

// Reads one "<len>:" <bytes> field from the front of `rest`.
std::optional<std::string> take_field(std::string_view& rest) {
  const std::size_t colon = rest.find(':');
  // At most 10 digits, no sign, no leading '+'.
  if (colon == std::string_view::npos || colon == 0 || colon > 10) return std::nullopt;
  std::size_t length = 0;
  const char* end = rest.data() + colon;
  const auto [ptr, ec] = std::from_chars(rest.data(), end, length);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  rest.remove_prefix(colon + 1);
  if (length > rest.size()) return std::nullopt;
  std::string field(rest.substr(0, length));
  rest.remove_prefix(length);
  return field;
}

bool is_hex(std::string_view text) {
  if (text.empty()) return false;
  for (const char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::optional<StoredKey> StoredKey::parse(std::string_view key) {
  const auto kind = key_kind(key);
  if (!kind) return std::nullopt;
  StoredKey out;
  out.kind = *kind;
  if (key.starts_with(hashed_key_prefix(*kind))) {
    const std::string_view digits = key.substr(hashed_key_prefix(*kind).size());
    if (!is_hex(digits)) return std::nullopt;
    out.hashed = true;
    out.hash = std::string(digits);
    return out;
  }
  std::string_view rest = key.substr(key_prefix(*kind).size());
  switch (*kind) {
    case KeyKind::kTriplet: {
      auto client = take_field(rest);
      auto sender = client ? take_field(rest) : std::nullopt;
      auto recipient = sender ? take_field(rest) : std::nullopt;
      if (!recipient || !rest.empty()) return std::nullopt;
      out.client = std::move(*client);
      out.sender = std::move(*sender);
      out.recipient = std::move(*recipient);
      return out;
    }
    case KeyKind::kClient:
    case KeyKind::kGreytrap:
      if (rest.empty()) return std::nullopt;
      out.client = std::string(rest);
      return out;
    case KeyKind::kDomain: {
      auto client = take_field(rest);
      if (!client || rest.empty()) return std::nullopt;
      out.client = std::move(*client);
      out.domain = std::string(rest);
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace greylist
