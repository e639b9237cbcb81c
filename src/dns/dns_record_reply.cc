#include "dns/dns_record_reply.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "dns/dns_reply.h"
#include "dns/dns_wire_reader.h"

namespace greylist {
namespace {

constexpr std::size_t kMaxTextBytes = 65536;

std::uint16_t wire_type(DnsRecordType type) {
  switch (type) {
    case DnsRecordType::kTxt: return 16;
    case DnsRecordType::kA: return 1;
    case DnsRecordType::kAaaa: return 28;
    case DnsRecordType::kMx: return 15;
    case DnsRecordType::kPtr: return 12;
  }
  return 0;
}

// The smallest TTL of the answer records of `type`; nullopt when there is
// none or the message is malformed.
std::optional<std::chrono::seconds> answer_ttl(DnsRecordType type, const unsigned char* reply,
                                               int length) {
  if (length < static_cast<int>(DnsWireReader::kHeaderBytes)) return std::nullopt;
  DnsWireReader reader(reply, static_cast<std::size_t>(length));
  std::uint32_t answers = 0;
  std::uint32_t authorities = 0;
  reader.skip_header(answers, authorities);
  std::optional<std::uint32_t> smallest;
  for (std::uint32_t i = 0; i < answers && reader.ok(); ++i) {
    reader.skip_name();
    const std::uint32_t record_type = reader.number(2);
    reader.skip(2);
    const std::uint32_t ttl = reader.number(4);
    reader.skip(reader.number(2));
    if (reader.ok() && record_type == wire_type(type)) smallest = std::min(ttl, smallest.value_or(ttl));
  }
  if (!reader.ok() || !smallest) return std::nullopt;
  return std::chrono::seconds(std::min<std::uint32_t>(*smallest, 0x7fffffff));
}

int read_texts(const unsigned char* reply, int length, std::vector<std::string>& texts) {
  ares_txt_ext* head = nullptr;
  const int status = ares_parse_txt_reply_ext(reply, length, &head);
  std::size_t bytes = 0;
  for (const ares_txt_ext* part = head; part != nullptr; part = part->next) {
    if (part->record_start != 0 || texts.empty()) {
      if (texts.size() == kMaxRecords) break;
      texts.emplace_back();
    }
    bytes += part->length;
    if (bytes > kMaxTextBytes) break;
    texts.back().append(reinterpret_cast<const char*>(part->txt), part->length);
  }
  if (head != nullptr) ares_free_data(head);
  return status;
}

int read_mx(const unsigned char* reply, int length, std::vector<std::string>& names) {
  ares_mx_reply* head = nullptr;
  const int status = ares_parse_mx_reply(reply, length, &head);
  for (const ares_mx_reply* mx = head; mx != nullptr && names.size() < kMaxRecords; mx = mx->next) {
    names.push_back(dns_canonical_name(mx->host != nullptr ? mx->host : ""));
  }
  if (head != nullptr) ares_free_data(head);
  return status;
}

int read_ptr(const unsigned char* reply, int length, std::vector<std::string>& names) {
  hostent* host = nullptr;
  const std::array<unsigned char, 4> unused{};
  const int status = ares_parse_ptr_reply(reply, length, unused.data(), 4, AF_INET, &host);
  // c-ares lists every PTR name among the aliases, in order, and the last
  // one again as the host name.
  if (status == ARES_SUCCESS && host != nullptr) {
    for (char** alias = host->h_aliases; alias != nullptr && *alias != nullptr; ++alias) {
      if (names.size() == kMaxRecords) break;
      names.push_back(dns_canonical_name(*alias));
    }
    if (names.empty() && host->h_name != nullptr) names.push_back(dns_canonical_name(host->h_name));
  }
  if (host != nullptr) ares_free_hostent(host);
  return status;
}

int read_addresses(DnsRecordType type, const unsigned char* reply, int length,
                   std::vector<IpAddress>& addresses) {
  hostent* host = nullptr;
  int count = static_cast<int>(kMaxRecords);
  int status = ARES_SUCCESS;
  if (type == DnsRecordType::kA) {
    std::array<ares_addrttl, kMaxRecords> records{};
    status = ares_parse_a_reply(reply, length, &host, records.data(), &count);
    for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
      std::array<std::uint8_t, 4> bytes{};
      std::memcpy(bytes.data(), &records[static_cast<std::size_t>(i)].ipaddr, 4);
      addresses.push_back(IpAddress::v4(bytes));
    }
  } else {
    std::array<ares_addr6ttl, kMaxRecords> records{};
    status = ares_parse_aaaa_reply(reply, length, &host, records.data(), &count);
    for (int i = 0; status == ARES_SUCCESS && i < count; ++i) {
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &records[static_cast<std::size_t>(i)].ip6addr, 16);
      addresses.push_back(IpAddress::v6(bytes));
    }
  }
  if (host != nullptr) ares_free_hostent(host);
  return status;
}

DnsRecords none(const unsigned char* reply, int length) {
  DnsRecords records;
  records.kind = DnsRecords::Kind::kNone;
  records.ttl = negative_ttl(reply, length).value_or(std::chrono::seconds(0));
  return records;
}

}  // namespace

DnsRecords read_dns_records(DnsRecordType type, int status, const unsigned char* reply, int length) {
  if (status == ARES_ENOTFOUND || status == ARES_ENODATA) return none(reply, length);
  if (status != ARES_SUCCESS || reply == nullptr) return DnsRecords{};
  DnsRecords records;
  switch (type) {
    case DnsRecordType::kTxt: status = read_texts(reply, length, records.texts); break;
    case DnsRecordType::kMx: status = read_mx(reply, length, records.texts); break;
    case DnsRecordType::kPtr: status = read_ptr(reply, length, records.texts); break;
    case DnsRecordType::kA:
    case DnsRecordType::kAaaa: status = read_addresses(type, reply, length, records.addresses); break;
  }
  if (status == ARES_ENODATA) return none(reply, length);
  if (status != ARES_SUCCESS) return DnsRecords{};
  if (records.texts.empty() && records.addresses.empty()) return none(reply, length);
  const auto ttl = answer_ttl(type, reply, length);
  if (!ttl) return DnsRecords{};
  records.kind = DnsRecords::Kind::kFound;
  records.ttl = *ttl;
  return records;
}

}  // namespace greylist
