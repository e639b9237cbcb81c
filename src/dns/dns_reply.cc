#include "dns/dns_reply.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace greylist {
namespace {

constexpr std::size_t kHeaderBytes = 12;
constexpr std::uint16_t kTypeSoa = 6;

class Reader {
 public:
  Reader(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }

  std::uint32_t number(std::size_t bytes) {
    if (!ok_ || bytes > size_ - pos_) return fail();
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < bytes; ++i) value = (value << 8) | data_[pos_++];
    return value;
  }
  void skip(std::size_t bytes) {
    if (!ok_ || bytes > size_ - pos_) fail();
    else pos_ += bytes;
  }
  // A domain name: labels up to a zero byte or a compression pointer.
  void skip_name() {
    for (int labels = 0; ok_ && labels < 128; ++labels) {
      const std::uint32_t length = number(1);
      if (length == 0) return;
      if ((length & 0xc0) == 0xc0) return skip(1);
      if ((length & 0xc0) != 0) break;
      skip(length);
    }
    fail();
  }

 private:
  std::uint32_t fail() {
    ok_ = false;
    return 0;
  }
  const unsigned char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Skips `count` resource records.
void skip_records(Reader& reader, std::uint32_t count) {
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
  if (reply == nullptr || length < static_cast<int>(kHeaderBytes)) return std::nullopt;
  Reader reader(reply, static_cast<std::size_t>(length));
  reader.skip(4);  // id, flags
  const std::uint32_t questions = reader.number(2);
  const std::uint32_t answers = reader.number(2);
  const std::uint32_t authorities = reader.number(2);
  reader.skip(2);
  for (std::uint32_t i = 0; i < questions && reader.ok(); ++i) {
    reader.skip_name();
    reader.skip(4);
  }
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
