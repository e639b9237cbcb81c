#include <cctype>

#include "greylist/dns_record_resolver.h"

namespace greylist {

const char* dns_record_type_name(DnsRecordType type) {
  switch (type) {
    case DnsRecordType::kTxt: return "TXT";
    case DnsRecordType::kA: return "A";
    case DnsRecordType::kAaaa: return "AAAA";
    case DnsRecordType::kMx: return "MX";
    case DnsRecordType::kPtr: return "PTR";
  }
  return "?";
}

std::string dns_canonical_name(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace greylist
