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
  StoredKey out;
  const auto hashed = [&](Kind kind, std::string_view digits) -> std::optional<StoredKey> {
    if (!is_hex(digits)) return std::nullopt;
    out.kind = kind;
    out.hashed = true;
    out.hash = std::string(digits);
    return out;
  };
  if (key.starts_with("t1h:")) return hashed(Kind::kTriplet, key.substr(4));
  if (key.starts_with("c1h:")) return hashed(Kind::kClient, key.substr(4));
  if (key.starts_with("d1h:")) return hashed(Kind::kDomain, key.substr(4));

  if (key.starts_with("t1:")) {
    std::string_view rest = key.substr(3);
    auto client = take_field(rest);
    auto sender = client ? take_field(rest) : std::nullopt;
    auto recipient = sender ? take_field(rest) : std::nullopt;
    if (!recipient || !rest.empty()) return std::nullopt;
    out.kind = Kind::kTriplet;
    out.client = std::move(*client);
    out.sender = std::move(*sender);
    out.recipient = std::move(*recipient);
    return out;
  }
  if (key.starts_with("c1:")) {
    if (key.size() == 3) return std::nullopt;
    out.kind = Kind::kClient;
    out.client = std::string(key.substr(3));
    return out;
  }
  if (key.starts_with("d1:")) {
    std::string_view rest = key.substr(3);
    auto client = take_field(rest);
    if (!client || rest.empty()) return std::nullopt;
    out.kind = Kind::kDomain;
    out.client = std::move(*client);
    out.domain = std::string(rest);
    return out;
  }
  return std::nullopt;
}

}  // namespace greylist
