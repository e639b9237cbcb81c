// DnsWireReader: bounds-checked reads of a DNS message (RFC 1035 wire
// format) from the network. Any read past the end, or a malformed name,
// makes ok() false for good; reads after that return 0 and do nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace greylist {

class DnsWireReader {
 public:
  static constexpr std::size_t kHeaderBytes = 12;

  DnsWireReader(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }

  // A big-endian number of `bytes` (1..4) bytes.
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
  // Skips the header and `questions` questions; returns the header's
  // answer and authority counts.
  void skip_header(std::uint32_t& answers, std::uint32_t& authorities) {
    skip(4);  // id, flags
    const std::uint32_t questions = number(2);
    answers = number(2);
    authorities = number(2);
    skip(2);
    for (std::uint32_t i = 0; i < questions && ok_; ++i) {
      skip_name();
      skip(4);
    }
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

}  // namespace greylist
