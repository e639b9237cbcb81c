// LastTwoLabels: a RegisteredDomains for tests, without the Public Suffix
// List: the last two labels of a name ("a.mail.example.test" ->
// "example.test"); nullopt for a name without a dot.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "greylist/registered_domains.h"

namespace greylist::testing {

class LastTwoLabels final : public RegisteredDomains {
 public:
  std::optional<std::string> registered_domain(std::string_view host) const override {
    const auto last = host.rfind('.');
    if (last == std::string_view::npos || last == 0) return std::nullopt;
    const auto previous = host.rfind('.', last - 1);
    return std::string(previous == std::string_view::npos ? host : host.substr(previous + 1));
  }
};

}  // namespace greylist::testing
