#include <libpsl.h>

#include <cctype>

#include "greylist/ip_address.h"
#include "greylist/registered_domains.h"

namespace greylist {
namespace {

constexpr std::size_t kMaxHostName = 253;

class PublicSuffixList final : public RegisteredDomains {
 public:
  explicit PublicSuffixList(psl_ctx_t* context) : context_(context) {}
  ~PublicSuffixList() override { psl_free(context_); }
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;

  std::optional<std::string> registered_domain(std::string_view host) const override {
    if (host.empty() || host.size() > kMaxHostName || IpAddress::parse(host)) return std::nullopt;
    std::string name;
    name.reserve(host.size());
    for (const char c : host) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) == 0 && c != '-' && c != '.' && c != '_') return std::nullopt;
      name += static_cast<char>(std::tolower(u));
    }
    if (name.find('.') == std::string::npos) return std::nullopt;
    const char* domain = psl_registrable_domain(context_, name.c_str());
    if (domain == nullptr) return std::nullopt;
    return std::string(domain);
  }

 private:
  psl_ctx_t* context_;  // read-only after creation: safe to share between threads
};

}  // namespace

Result<std::unique_ptr<RegisteredDomains>> open_public_suffix_list() {
  psl_ctx_t* context = psl_latest(nullptr);
  if (context == nullptr) {
    return Status::Unavailable("no Public Suffix List: neither libpsl's built-in list nor "
                               "/usr/share/publicsuffix could be loaded");
  }
  return std::unique_ptr<RegisteredDomains>(std::make_unique<PublicSuffixList>(context));
}

}  // namespace greylist
