#include "dns/dns_reply.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "dns/dns_wire_reader.h"

namespace greylist {
namespace {

constexpr std::uint16_t kTypeSoa = 6;

// Skips `count` resource records.
void skip_records(DnsWireReader& reader, std::uint32_t count) {
  for (std::uint32_t i = 0; i < count && reader.ok(); ++i) {
    reader.skip_name();
    reader.skip(8);  // type, class, ttl
    reader.skip(reader.number(2));
  }
}

DnsReply listed_reply(const unsigned char* reply, int length) {
  std::array<ares_addrttl, 16> records{};
  int count = static_cast<int>(records.size());
  hostent* host = nullptr;
  const int status = ares_parse_a_reply(reply, length, &host, records.data(), &count);
  if (host != nullptr) ares_free_hostent(host);
  if (status == ARES_ENODATA || (status == ARES_SUCCESS && count == 0)) {
    return DnsReply{DnsAnswer{DnsAnswer::Kind::kNotListed, {}}, negative_ttl(reply, length)};
  }
  if (status != ARES_SUCCESS) return DnsReply{};
  DnsAnswer answer{DnsAnswer::Kind::kListed, {}};
  int ttl = records[0].ttl;
  for (int i = 0; i < count; ++i) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &records[static_cast<std::size_t>(i)].ipaddr, 4);
    answer.addresses.push_back(bytes);
    ttl = std::min(ttl, records[static_cast<std::size_t>(i)].ttl);
  }
  return DnsReply{std::move(answer), std::chrono::seconds(std::max(ttl, 0))};
}

}  // namespace

std::optional<std::chrono::seconds> negative_ttl(const unsigned char* reply, int length) {
  if (reply == nullptr || length < static_cast<int>(DnsWireReader::kHeaderBytes)) return std::nullopt;
  DnsWireReader reader(reply, static_cast<std::size_t>(length));
  std::uint32_t answers = 0;
  std::uint32_t authorities = 0;
  reader.skip_header(answers, authorities);
  skip_records(reader, answers);
  for (std::uint32_t i = 0; i < authorities && reader.ok(); ++i) {
    reader.skip_name();
    const std::uint32_t type = reader.number(2);
    reader.skip(2);
    const std::uint32_t ttl = reader.number(4);
    const std::uint32_t rdlength = reader.number(2);
    const std::size_t rdata_end = reader.pos() + rdlength;
    if (type != kTypeSoa) {
      reader.skip(rdlength);
      continue;
    }
    reader.skip_name();  // MNAME
    reader.skip_name();  // RNAME
    reader.skip(16);     // serial, refresh, retry, expire
    const std::uint32_t minimum = reader.number(4);
    if (!reader.ok() || reader.pos() != rdata_end) return std::nullopt;
    return std::chrono::seconds(std::min<std::uint32_t>(std::min(ttl, minimum), 0x7fffffff));
  }
  return std::nullopt;
}

DnsReply read_dns_reply(int status, const unsigned char* reply, int length) {
  if (status == ARES_SUCCESS && reply != nullptr) return listed_reply(reply, length);
  if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
    return DnsReply{DnsAnswer{DnsAnswer::Kind::kNotListed, {}}, negative_ttl(reply, length)};
  }
  return DnsReply{};
}

}  // namespace greylist
