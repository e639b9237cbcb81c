// Settings shared by the policy and the milter front end.
#pragma once

#include <string>

#include "greylist/dns_lists.h"
#include "greylist/reply_text.h"

namespace greylist {

// What a front end answers when the core returns Decision::Action::kError
// (--on-error): let the mail through (fail open, the default, as Postfix's
// milter_default_action=accept) or ask the client to retry later.
enum class OnError { kAccept, kTempfail };

struct FrontEndSettings {
  std::string greylist_text = std::string(kDefaultGreylistText);  // --greylist-text
  std::string header_template = std::string(kDefaultHeaderTemplate);  // --x-greylist-header
  std::string hostname;  // --hostname (%h); the machine's name by default
  OnError on_error = OnError::kAccept;
  // The rules' DNS lists: the daemon's resolver (set at start, none by
  // default: every list "not listed"), its metrics, --dns-timeout.
  DnsLists dns;
};

}  // namespace greylist
