// IpAddress and IpNetwork: parsing and prefix matching of client addresses.
// Untrusted text in, value types out; parsing never throws.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace greylist {

class IpAddress {
 public:
  enum class Family { kV4, kV6 };

  // Accepts dotted IPv4 and any IPv6 text form (an optional "IPv6:" prefix,
  // as in Postfix's client_address for some setups, and surrounding brackets
  // are removed). An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4,
  // so one client has one key however the MTA wrote it. nullopt otherwise.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);

  Family family() const { return family_; }
  int bits() const { return family_ == Family::kV4 ? 32 : 128; }
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }  // IPv4 in the first 4

  // This address with all bits after the first `prefix` cleared (prefix is
  // clamped to 0..bits()).
  IpAddress masked(int prefix) const;
  // Canonical text: "192.0.2.1", RFC 5952 IPv6 ("2001:db8::1").
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::kV4;
  std::array<std::uint8_t, 16> bytes_{};
};

class IpNetwork {
 public:
  // "a.b.c.d/n", "x::y/n" or a bare address (a host network). nullopt on
  // bad syntax or a prefix out of range.
  static std::optional<IpNetwork> parse(std::string_view text);
  IpNetwork(IpAddress base, int prefix) : base_(base.masked(prefix)), prefix_(prefix) {}

  bool contains(const IpAddress& address) const;
  const IpAddress& base() const { return base_; }
  int prefix() const { return prefix_; }
  std::string to_string() const;

 private:
  IpAddress base_;
  int prefix_;
};

}  // namespace greylist
